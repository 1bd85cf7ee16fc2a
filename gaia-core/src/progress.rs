//! Job progress on the one 0–100 scale.

use serde::{Deserialize, Deserializer, Serialize};

/// Progress of a job, always within 0–100.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Progress(u8);

impl Progress {
    /// Nothing done.
    pub const ZERO: Progress = Progress(0);
    /// Finished.
    pub const DONE: Progress = Progress(100);

    /// A percentage, clamped to 100.
    pub fn percent(value: u32) -> Self {
        Self(value.min(100) as u8)
    }

    /// `done` out of `total`, rounded down (0 when `total` is 0).
    pub fn fraction(done: u64, total: u64) -> Self {
        if total == 0 {
            return Self::ZERO;
        }
        Self::percent((done.min(total) * 100 / total) as u32)
    }

    /// A ratio in 0.0–1.0 (A1111 reports progress that way); NaN reads as 0.
    pub fn from_ratio(ratio: f64) -> Self {
        if ratio.is_nan() {
            return Self::ZERO;
        }
        Self((ratio.clamp(0.0, 1.0) * 100.0).floor() as u8)
    }

    /// The percentage.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u8::deserialize(deserializer)?;
        if value > 100 {
            return Err(serde::de::Error::custom(format!(
                "progress {value} is over 100"
            )));
        }
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_leaves_the_scale() {
        assert_eq!(Progress::percent(250).value(), 100);
        assert_eq!(Progress::fraction(3, 4).value(), 75);
        assert_eq!(Progress::fraction(9, 0).value(), 0);
        assert_eq!(Progress::from_ratio(1.7).value(), 100);
        assert_eq!(Progress::from_ratio(f64::NAN).value(), 0);
        assert!(serde_json::from_str::<Progress>("101").is_err());
        assert_eq!(
            serde_json::from_str::<Progress>("42").ok(),
            Some(Progress(42))
        );
    }
}
