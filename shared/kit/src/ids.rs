//! Ids a service assigns to its resources (the `{contract}` of `contracts/{contract}`): UUIDv7 text,
//! so ids sort by creation, checked once where they enter ([`resource_id!`](crate::resource_id)).

/// Whether `s` has the shape of an id a closeloop service assigns: 1 to 64 ASCII letters,
/// digits or dashes.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A new id: a UUIDv7, so later ids sort after earlier ones.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Declares an id type: only `new()` and `parse()` make one, so code holding one never checks
/// its shape again.
///
/// ```
/// closeloop_kit::resource_id!(
///     /// A contract's id.
///     pub struct ContractId("contract")
/// );
/// assert!(ContractId::parse("not an id!").is_err());
/// let id = ContractId::new();
/// assert_eq!(ContractId::parse(id.as_str()), Ok(id));
/// ```
#[macro_export]
macro_rules! resource_id {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($what:literal)) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name(String);

        impl $name {
            /// A new id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> $name {
                $name($crate::ids::new_id())
            }

            /// Checks an id's shape.
            ///
            /// # Errors
            /// A description when it is not an id this service assigns.
            pub fn parse(s: &str) -> ::core::result::Result<$name, String> {
                if $crate::ids::is_id(s) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(concat!("not a ", $what, " id").to_owned())
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
