//! OpenAI's published image prices: per-image tables for estimates, token
//! rates for the real cost from a response's `usage`.

use gaia_core::{Money, Quality};
use serde::Deserialize;

/// Micro-dollars per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenRates {
    /// Prompt text in.
    pub(crate) text_in: u64,
    /// Images in (edits).
    pub(crate) image_in: u64,
    /// Images out.
    pub(crate) image_out: u64,
    /// Text out (gpt-image-1.5 reasoning text; zero where not billed).
    pub(crate) text_out: u64,
}

/// Published per-image prices in micro-dollars, `[square, rectangular]`
/// (1024x1024, then 1536x1024 or 1024x1536).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PerImage {
    pub(crate) low: [i64; 2],
    pub(crate) medium: [i64; 2],
    pub(crate) high: [i64; 2],
}

/// One GPT image model: its id, token rates and per-image table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImageModel {
    pub(crate) id: &'static str,
    pub(crate) rates: TokenRates,
    pub(crate) per_image: PerImage,
    pub(crate) description: &'static str,
}

/// The GPT image models (providers.md §1.5; dall-e models are shut down).
pub(crate) const IMAGE_MODELS: [ImageModel; 3] = [
    ImageModel {
        id: "gpt-image-1",
        rates: TokenRates {
            text_in: 5_000_000,
            image_in: 10_000_000,
            image_out: 40_000_000,
            text_out: 0,
        },
        per_image: PerImage {
            low: [11_000, 16_000],
            medium: [42_000, 63_000],
            high: [167_000, 250_000],
        },
        description: "GPT Image 1",
    },
    ImageModel {
        id: "gpt-image-1-mini",
        rates: TokenRates {
            text_in: 2_000_000,
            image_in: 2_500_000,
            image_out: 8_000_000,
            text_out: 0,
        },
        per_image: PerImage {
            low: [5_000, 6_000],
            medium: [11_000, 15_000],
            high: [36_000, 52_000],
        },
        description: "GPT Image 1 mini (cheapest)",
    },
    ImageModel {
        id: "gpt-image-1.5",
        rates: TokenRates {
            text_in: 5_000_000,
            image_in: 8_000_000,
            image_out: 32_000_000,
            text_out: 10_000_000,
        },
        per_image: PerImage {
            low: [9_000, 13_000],
            medium: [34_000, 50_000],
            high: [133_000, 200_000],
        },
        description: "GPT Image 1.5",
    },
];

/// Input image tokens assumed per edit in its estimate: a 1536-pixel image
/// at the default (low) input fidelity is under a thousand tokens; the real
/// count comes back in `usage`.
pub(crate) const EDIT_INPUT_IMAGE_TOKENS: u64 = 1_000;

impl ImageModel {
    /// The published price of one image. `quality: None` is OpenAI's `auto`,
    /// estimated at `high` (the most it can cost).
    pub(crate) fn image_price(&self, quality: Option<Quality>, rectangular: bool) -> Money {
        let row = match quality {
            Some(Quality::Low) => self.per_image.low,
            Some(Quality::Medium) => self.per_image.medium,
            Some(Quality::High) | None => self.per_image.high,
        };
        Money::from_micros(row[usize::from(rectangular)])
    }

    /// The `gaia providers` line of its price.
    pub(crate) fn price_note(&self) -> String {
        let dollars = |m: i64| Money::from_micros(m).to_string();
        let pair = |row: [i64; 2]| format!("{} / {}", dollars(row[0]), dollars(row[1]));
        format!(
            "per image, square / rectangular: low {}, medium {}, high {} (auto estimated \
             as high); billed from usage at ${} text in, ${} image in, ${} image out per 1M tokens",
            pair(self.per_image.low),
            pair(self.per_image.medium),
            pair(self.per_image.high),
            self.rates.text_in / 1_000_000,
            per_million_dollars(self.rates.image_in),
            self.rates.image_out / 1_000_000,
        )
    }
}

fn per_million_dollars(micros_per_million: u64) -> String {
    let whole = micros_per_million / 1_000_000;
    let cents = micros_per_million % 1_000_000 / 10_000;
    if cents == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{cents:02}")
    }
}

/// The model of an id.
pub(crate) fn image_model(id: &str) -> Option<&'static ImageModel> {
    IMAGE_MODELS.iter().find(|m| m.id == id)
}

/// `usage` of an images response (GPT image models).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) input_tokens: u64,
    #[serde(default)]
    pub(crate) input_tokens_details: Option<InputDetails>,
    pub(crate) output_tokens: u64,
    #[serde(default)]
    pub(crate) output_tokens_details: Option<OutputDetails>,
}

/// How the input tokens split.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct InputDetails {
    #[serde(default)]
    pub(crate) text_tokens: u64,
    #[serde(default)]
    pub(crate) image_tokens: u64,
}

/// How the output tokens split (when the response says).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct OutputDetails {
    #[serde(default)]
    pub(crate) text_tokens: u64,
    #[serde(default)]
    pub(crate) image_tokens: u64,
}

impl TokenRates {
    /// The cost of a response's usage, rounded up once. Input tokens
    /// without a split are billed as text; output tokens without a split as
    /// image tokens. Cached input is billed at the full rate (an upper bound).
    pub(crate) fn cost(&self, usage: &Usage) -> Money {
        let input = usage.input_tokens_details.unwrap_or(InputDetails {
            text_tokens: usage.input_tokens,
            image_tokens: 0,
        });
        let output = usage.output_tokens_details.unwrap_or(OutputDetails {
            text_tokens: 0,
            image_tokens: usage.output_tokens,
        });
        let weighted = [
            (input.text_tokens, self.text_in),
            (input.image_tokens, self.image_in),
            (output.image_tokens, self.image_out),
            (output.text_tokens, self.text_out),
        ]
        .iter()
        .map(|(tokens, rate)| u128::from(*tokens) * u128::from(*rate))
        .sum::<u128>();
        let micros = weighted.div_ceil(1_000_000);
        Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every published per-image figure (providers.md §1.5), in dollars.
    const PUBLISHED: [(&str, Quality, bool, &str); 18] = [
        ("gpt-image-1", Quality::Low, false, "$0.011000"),
        ("gpt-image-1", Quality::Low, true, "$0.016000"),
        ("gpt-image-1", Quality::Medium, false, "$0.042000"),
        ("gpt-image-1", Quality::Medium, true, "$0.063000"),
        ("gpt-image-1", Quality::High, false, "$0.167000"),
        ("gpt-image-1", Quality::High, true, "$0.250000"),
        ("gpt-image-1-mini", Quality::Low, false, "$0.005000"),
        ("gpt-image-1-mini", Quality::Low, true, "$0.006000"),
        ("gpt-image-1-mini", Quality::Medium, false, "$0.011000"),
        ("gpt-image-1-mini", Quality::Medium, true, "$0.015000"),
        ("gpt-image-1-mini", Quality::High, false, "$0.036000"),
        ("gpt-image-1-mini", Quality::High, true, "$0.052000"),
        ("gpt-image-1.5", Quality::Low, false, "$0.009000"),
        ("gpt-image-1.5", Quality::Low, true, "$0.013000"),
        ("gpt-image-1.5", Quality::Medium, false, "$0.034000"),
        ("gpt-image-1.5", Quality::Medium, true, "$0.050000"),
        ("gpt-image-1.5", Quality::High, false, "$0.133000"),
        ("gpt-image-1.5", Quality::High, true, "$0.200000"),
    ];

    #[test]
    fn per_image_prices_match_the_published_table() {
        for (id, quality, rectangular, dollars) in PUBLISHED {
            let model = image_model(id).unwrap_or_else(|| panic!("no model {id}"));
            assert_eq!(
                model.image_price(Some(quality), rectangular).to_string(),
                dollars,
                "{id} {quality:?} rectangular={rectangular}"
            );
        }
    }

    #[test]
    fn auto_quality_is_estimated_at_high() {
        for model in IMAGE_MODELS {
            assert_eq!(
                model.image_price(None, true),
                model.image_price(Some(Quality::High), true)
            );
        }
    }

    /// Output image tokens per size and quality (OpenAI's table for the GPT
    /// image 1 family) priced at the token rate round to the per-image
    /// figure: the two published tables agree.
    #[test]
    fn token_rates_reproduce_the_per_image_table() {
        let tokens = [
            (Quality::Low, [272, 408]),
            (Quality::Medium, [1056, 1584]),
            (Quality::High, [4160, 6240]),
        ];
        for id in ["gpt-image-1", "gpt-image-1.5"] {
            let model = image_model(id).unwrap_or_else(|| panic!("no model {id}"));
            for (quality, [square, rect]) in tokens {
                for (count, rectangular) in [(square, false), (rect, true)] {
                    let usage = Usage {
                        output_tokens: count,
                        ..Usage::default()
                    };
                    let from_tokens = model.rates.cost(&usage).micros();
                    let published = model.image_price(Some(quality), rectangular).micros();
                    assert!(
                        (from_tokens - published).abs() <= 1_000,
                        "{id} {quality:?}: {from_tokens} vs {published}"
                    );
                }
            }
        }
    }

    #[test]
    fn usage_is_priced_per_token_kind_and_rounded_up_once() {
        let usage = Usage {
            input_tokens: 50,
            input_tokens_details: Some(InputDetails {
                text_tokens: 20,
                image_tokens: 30,
            }),
            output_tokens: 1056,
            output_tokens_details: None,
        };
        let gpt_image_1 = image_model("gpt-image-1").map(|m| m.rates);
        // 20 × $5 + 30 × $10 + 1056 × $40 per 1M = 100 + 300 + 42240 µ$.
        assert_eq!(gpt_image_1.map(|r| r.cost(&usage).micros()), Some(42_640));
        let one_token = Usage {
            input_tokens: 1,
            ..Usage::default()
        };
        let mini = image_model("gpt-image-1-mini").map(|m| m.rates);
        // 1 × $2 per 1M = 2 µ$.
        assert_eq!(mini.map(|r| r.cost(&one_token).micros()), Some(2));
        let text_out = Usage {
            output_tokens: 103,
            output_tokens_details: Some(OutputDetails {
                text_tokens: 3,
                image_tokens: 100,
            }),
            ..Usage::default()
        };
        let v15 = image_model("gpt-image-1.5").map(|m| m.rates);
        // 3 × $10 + 100 × $32 per 1M = 30 + 3200 µ$.
        assert_eq!(v15.map(|r| r.cost(&text_out).micros()), Some(3_230));
    }

    #[test]
    fn the_price_note_quotes_the_table() {
        let note = image_model("gpt-image-1-mini")
            .map(ImageModel::price_note)
            .unwrap_or_default();
        assert!(note.contains("low $0.005000 / $0.006000"), "{note}");
        assert!(note.contains("$2.50 image in"), "{note}");
    }
}
