//! Enums a service maps between layers, declared once: [`codes!`](crate::codes) gives a domain
//! enum its stable codes (what messages and storage columns show), and
//! [`enum_map!`](crate::enum_map) maps it to another enum (its proto enum, its stored form) in
//! both directions from one list of pairs.

/// Declares an enum with a stable code per value: `ALL` (declaration order), `code()` and
/// `from_code()`.
///
/// ```
/// closeloop_kit::codes! {
///     /// How a deal ended.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Outcome { Won = "WON", Lost = "LOST" }
/// }
/// assert_eq!(Outcome::Won.code(), "WON");
/// assert_eq!(Outcome::from_code("LOST"), Some(Outcome::Lost));
/// assert_eq!(Outcome::ALL.len(), 2);
/// ```
#[macro_export]
macro_rules! codes {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($code),+].len()] = [$($name::$variant),+];

            /// The value's stable code.
            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }

            /// The value with this code.
            pub fn from_code(code: &str) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

/// Maps enum `$a` to enum `$b` value by value: `From<$a> for $b`, and `TryFrom<$b> for $a` that
/// fails for the values of `$b` not listed (e.g. a proto enum's `UNSPECIFIED`).
///
/// ```
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Domain { A, B }
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Wire { Unspecified, A, B }
/// closeloop_kit::enum_map!(Domain => Wire { A => A, B => B });
/// assert_eq!(Wire::from(Domain::B), Wire::B);
/// assert_eq!(Domain::try_from(Wire::A), Ok(Domain::A));
/// assert!(Domain::try_from(Wire::Unspecified).is_err());
/// ```
#[macro_export]
macro_rules! enum_map {
    ($a:ty => $b:ty { $($x:ident => $y:ident),+ $(,)? }) => {
        impl ::core::convert::From<$a> for $b {
            fn from(value: $a) -> $b {
                match value {
                    $(<$a>::$x => <$b>::$y),+
                }
            }
        }

        impl ::core::convert::TryFrom<$b> for $a {
            type Error = $crate::enums::Unmapped;
            #[allow(unreachable_patterns)]
            fn try_from(value: $b) -> ::core::result::Result<$a, $crate::enums::Unmapped> {
                match value {
                    $(<$b>::$y => Ok(<$a>::$x),)+
                    _ => Err($crate::enums::Unmapped),
                }
            }
        }
    };
}

/// A value with no counterpart in the other enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmapped;

/// Parses a proto enum field (`i32` on the wire) into the domain enum `D` through the proto
/// enum `P`: `Ok(None)` for a known value without a domain counterpart (the `UNSPECIFIED`
/// zero), an error naming the value for one the proto does not know.
///
/// # Errors
/// "unknown value N" when `value` is not a value of `P`.
pub fn parse<P, D>(value: i32) -> Result<Option<D>, String>
where
    P: TryFrom<i32>,
    D: TryFrom<P>,
{
    let wire = P::try_from(value).map_err(|_| format!("unknown value {value}"))?;
    Ok(D::try_from(wire).ok())
}

/// Like [`parse`], for a field that must be set.
///
/// # Errors
/// "required" for `UNSPECIFIED`; "unknown value N" for a value `P` does not know.
pub fn required<P, D>(value: i32) -> Result<D, String>
where
    P: TryFrom<i32>,
    D: TryFrom<P>,
{
    parse::<P, D>(value)?.ok_or_else(|| "required".to_owned())
}

/// The proto enum field value of a domain value.
pub fn wire<P, D>(value: D) -> i32
where
    P: From<D> + Into<i32>,
{
    P::from(value).into()
}
