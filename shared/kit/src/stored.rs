//! Stored forms of domain types, declared once per type: a service's stored document is its own
//! types (so a change in the domain cannot silently change what is on disk), and
//! [`stored_struct!`](crate::stored_struct) and [`stored_enum!`](crate::stored_enum) write the
//! conversions from the list of fields or values. See `services/opportunities/src/store/document.rs`.

use time::Date;

use crate::Problem;
use crate::types::{CurrencyCode, Email};

/// A stored type and its domain counterpart.
pub trait Stored: Sized {
    /// The domain type.
    type Domain;
    /// The stored form of a domain value.
    fn store(domain: &Self::Domain) -> Self;
    /// The domain value again.
    ///
    /// # Errors
    /// INTERNAL when the stored value is not one this build reads.
    fn load(self) -> Result<Self::Domain, Problem>;
}

/// Types stored as they are: their serde form is fixed by the kit, `std` or the `time` crate.
macro_rules! as_is {
    ($($t:ty),+) => {$(
        impl Stored for $t {
            type Domain = $t;
            fn store(domain: &$t) -> $t {
                domain.clone()
            }
            fn load(self) -> Result<$t, Problem> {
                Ok(self)
            }
        }
    )+};
}

as_is!(
    String,
    i64,
    i32,
    u32,
    bool,
    Date,
    (Date, Date),
    CurrencyCode,
    Email
);

impl<T: Stored> Stored for Vec<T> {
    type Domain = Vec<T::Domain>;
    fn store(domain: &Self::Domain) -> Self {
        domain.iter().map(T::store).collect()
    }
    fn load(self) -> Result<Self::Domain, Problem> {
        self.into_iter().map(T::load).collect()
    }
}

impl<T: Stored> Stored for Option<T> {
    type Domain = Option<T::Domain>;
    fn store(domain: &Self::Domain) -> Self {
        domain.as_ref().map(T::store)
    }
    fn load(self) -> Result<Self::Domain, Problem> {
        self.map(T::load).transpose()
    }
}

/// Declares a stored struct: its fields in the stored order, each stored as its own type, and its
/// conversions from and to the domain struct of the same fields. A field added later goes last,
/// with `#[serde(default)]` written before it, so documents that stop short of it still read.
#[macro_export]
macro_rules! stored_struct {
    ($name:ident => $($domain:ident)::+ { $($(#[$attr:meta])* $field:ident: $ty:ty),+ $(,)? }) => {
        #[derive(::serde::Serialize, ::serde::Deserialize)]
        struct $name {
            $($(#[$attr])* $field: $ty),+
        }

        impl $crate::stored::Stored for $name {
            type Domain = $($domain)::+;
            fn store(d: &Self::Domain) -> Self {
                $name {
                    $($field: <$ty as $crate::stored::Stored>::store(&d.$field)),+
                }
            }
            fn load(self) -> Result<Self::Domain, $crate::Problem> {
                Ok($($domain)::+ {
                    $($field: $crate::stored::Stored::load(self.$field)?),+
                })
            }
        }
    };
}

/// Declares a stored enum: its values by the names written here, and its conversions from and
/// to the domain enum of the same values (named by a plain identifier in scope).
#[macro_export]
macro_rules! stored_enum {
    ($name:ident => $domain:ident { $($value:ident),+ $(,)? }) => {
        #[derive(::serde::Serialize, ::serde::Deserialize)]
        enum $name {
            $($value),+
        }

        impl $crate::stored::Stored for $name {
            type Domain = $domain;
            fn store(d: &$domain) -> Self {
                match d {
                    $($domain::$value => $name::$value),+
                }
            }
            fn load(self) -> Result<$domain, $crate::Problem> {
                Ok(match self {
                    $($name::$value => $domain::$value),+
                })
            }
        }
    };
}
