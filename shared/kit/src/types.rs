//! Value types every closeloop domain uses. Each can only be built valid, so code holding one
//! never checks it again.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Active ISO-4217 alphabetic codes.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// An ISO-4217 currency code, e.g. `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Parses an upper-case ISO-4217 code.
    ///
    /// # Errors
    /// When `s` is not an active ISO-4217 code.
    pub fn parse(s: &str) -> Result<Self, String> {
        if ISO_4217.binary_search(&s).is_ok() {
            let b = s.as_bytes();
            Ok(CurrencyCode([b[0], b[1], b[2]]))
        } else if s.is_empty() {
            Err("required: an ISO-4217 currency code such as EUR".into())
        } else {
            Err(format!(
                "{s:?} is not an ISO-4217 currency code (upper case, e.g. EUR)"
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("validated ASCII")
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        CurrencyCode::parse(&s)
    }
}

impl From<CurrencyCode> for String {
    fn from(c: CurrencyCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: integer minor units in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The currency.
    pub currency: CurrencyCode,
    /// Minor units (cents).
    pub minor: i64,
}

impl Money {
    /// `minor` units of `currency`.
    pub fn new(currency: CurrencyCode, minor: i64) -> Self {
        Money { currency, minor }
    }

    /// Zero in `currency`.
    pub fn zero(currency: CurrencyCode) -> Self {
        Money { currency, minor: 0 }
    }
}

impl CurrencyCode {
    /// Digits after the decimal point of the currency's minor unit (ISO 4217): 2 for most, 0
    /// for e.g. JPY, 3 for e.g. KWD.
    pub fn exponent(self) -> u32 {
        const NONE: [&str; 16] = [
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
            "VUV", "XAF", "XOF", "XPF",
        ];
        const THREE: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
        if NONE.contains(&self.as_str()) {
            0
        } else if THREE.contains(&self.as_str()) {
            3
        } else {
            2
        }
    }
}

/// `EUR 2500.00`: the code and the amount in major units, for messages to people.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{} {sign}{abs}", self.currency);
        }
        let unit = 10u64.pow(exponent);
        write!(
            f,
            "{} {sign}{}.{:0width$}",
            self.currency,
            abs / unit,
            abs % unit,
            width = exponent as usize
        )
    }
}

/// An email address: one `@`, a non-empty local part, a dotted domain, no spaces, at most 254
/// characters. Deliverability is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address.
    ///
    /// # Errors
    /// When `s` is not shaped like an email address.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let valid = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Email(s.to_owned()))
        } else if s.is_empty() {
            Err("required: an email address".into())
        } else {
            Err(format!("{s:?} is not an email address"))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// An identifier from another system or a token subject (an owner, an account id, a product
/// id): 1 to `max` bytes of UTF-8 (a limit in bytes bounds what is stored and sent whatever the
/// script), no control characters, no surrounding spaces. Such values are stored, indexed and
/// compared exactly, so they are refused rather than cleaned up.
pub fn identifier(s: &str, max: usize) -> Result<String, String> {
    if s.is_empty() {
        Err("required".into())
    } else if s.len() > max {
        Err(format!("at most {max} bytes of UTF-8"))
    } else if s.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else if s.trim() != s {
        Err("must not start or end with spaces".into())
    } else {
        Ok(s.to_owned())
    }
}

/// Text that must be present and bounded: trimmed, 1 to `max` bytes of UTF-8 (so a field's limit
/// bounds its size whatever the script), no control characters other than newlines and tabs.
pub fn required_text(s: &str, max: usize) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("required".into());
    }
    optional_text(t, max)
}

/// Text that may be empty but is bounded like [`required_text`].
pub fn optional_text(s: &str, max: usize) -> Result<String, String> {
    let t = s.trim();
    if t.len() > max {
        return Err(format!("at most {max} bytes of UTF-8"));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_in_major_units() {
        let eur = CurrencyCode::parse("EUR").unwrap();
        assert_eq!(Money::new(eur, 250_000).to_string(), "EUR 2500.00");
        assert_eq!(Money::new(eur, -5).to_string(), "EUR -0.05");
        let jpy = CurrencyCode::parse("JPY").unwrap();
        assert_eq!(Money::new(jpy, 1200).to_string(), "JPY 1200");
        let kwd = CurrencyCode::parse("KWD").unwrap();
        assert_eq!(Money::new(kwd, 1_005).to_string(), "KWD 1.005");
    }

    #[test]
    fn iso_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn currency_codes() {
        assert_eq!(CurrencyCode::parse("EUR").unwrap().as_str(), "EUR");
        assert!(CurrencyCode::parse("eur").is_err());
        assert!(CurrencyCode::parse("XYZ").is_err());
        assert!(CurrencyCode::parse("").is_err());
        assert!(CurrencyCode::parse("EURO").is_err());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("ana@example.com").is_ok());
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.com",
            "ana@example.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(identifier("acme-1", 8).is_ok());
        // Bytes, not characters: four 2-byte letters fit 8 bytes, five do not.
        assert!(identifier(&"é".repeat(4), 8).is_ok());
        assert!(identifier(&"é".repeat(5), 8).is_err());
        for bad in ["", "a\0b", " a", "a\n", "123456789"] {
            assert!(identifier(bad, 8).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn texts() {
        assert_eq!(required_text("  x ", 5).unwrap(), "x");
        assert!(required_text("   ", 5).is_err());
        assert!(required_text("abcdef", 5).is_err());
        assert!(optional_text("a\u{0}b", 5).is_err());
        assert_eq!(optional_text("", 5).unwrap(), "");
    }
}
