//! Integer micro-dollar money.

use serde::{Deserialize, Serialize};

/// An amount of US dollars in integer micro-dollars (`Money(40_000)` is $0.04).
///
/// There is no floating point money anywhere in the engine; hosts may add a
/// float convenience next to the integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// Zero dollars.
    pub const ZERO: Money = Money(0);

    /// From micro-dollars.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// From whole cents.
    pub const fn from_cents(cents: i64) -> Self {
        Self(cents * 10_000)
    }

    /// The amount in micro-dollars.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `units` priced at `micros_per_million` micro-dollars per million units,
    /// rounded up once (some per-unit prices are fractions of a micro-dollar).
    pub fn per_million(units: u64, micros_per_million: u64) -> Self {
        let product = u128::from(units) * u128::from(micros_per_million);
        let micros = product.div_ceil(1_000_000);
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Saturating sum.
    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// Saturating product by a count (for example outputs per request).
    pub fn times(self, count: u32) -> Money {
        Money(self.0.saturating_mul(i64::from(count)))
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}${}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_million_rounds_up_once() {
        // tts-1: $15 per million characters = 15 µ$/char.
        assert_eq!(Money::per_million(1_000, 15_000_000).micros(), 15_000);
        // 0.02 µ$ per token, 3 tokens: 0.06 µ$ rounds up to 1 µ$.
        assert_eq!(Money::per_million(3, 20_000).micros(), 1);
        assert_eq!(Money::per_million(0, 20_000).micros(), 0);
    }

    #[test]
    fn displays_dollars() {
        assert_eq!(Money::from_micros(40_000).to_string(), "$0.040000");
        assert_eq!(Money::from_cents(-150).to_string(), "-$1.500000");
    }

    #[test]
    fn serializes_as_integer() {
        assert_eq!(
            serde_json::to_string(&Money::from_micros(42))
                .ok()
                .as_deref(),
            Some("42")
        );
    }
}
