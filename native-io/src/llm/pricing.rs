//! Token prices and the models' real tokenizers.
//!
//! Prices are OpenAI's list prices in USD per million tokens **as of
//! 2025-08-15** (Azure OpenAI global deployments charge the same); check the
//! provider's page before relying on them. Unknown models (local servers,
//! custom Azure deployment names) get no cost.

use pcaplens_core::evidence::TokenCounter;
use tiktoken_rs::CoreBPE;

pub const PRICES_AS_OF: &str = "2025-08-15";

pub struct Price {
    pub model: &'static str,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// Longest prefix first where names share one (gpt-4o-mini before gpt-4o).
pub const PRICES: &[Price] = &[
    Price {
        model: "gpt-4o-mini",
        input_per_mtok: 0.15,
        output_per_mtok: 0.60,
    },
    Price {
        model: "gpt-4o",
        input_per_mtok: 2.50,
        output_per_mtok: 10.00,
    },
    Price {
        model: "gpt-4.1-nano",
        input_per_mtok: 0.10,
        output_per_mtok: 0.40,
    },
    Price {
        model: "gpt-4.1-mini",
        input_per_mtok: 0.40,
        output_per_mtok: 1.60,
    },
    Price {
        model: "gpt-4.1",
        input_per_mtok: 2.00,
        output_per_mtok: 8.00,
    },
    Price {
        model: "gpt-5-nano",
        input_per_mtok: 0.05,
        output_per_mtok: 0.40,
    },
    Price {
        model: "gpt-5-mini",
        input_per_mtok: 0.25,
        output_per_mtok: 2.00,
    },
    Price {
        model: "gpt-5",
        input_per_mtok: 1.25,
        output_per_mtok: 10.00,
    },
    Price {
        model: "o4-mini",
        input_per_mtok: 1.10,
        output_per_mtok: 4.40,
    },
    Price {
        model: "o3",
        input_per_mtok: 2.00,
        output_per_mtok: 8.00,
    },
];

/// Models listed in `token_estimate.txt`.
pub const ESTIMATE_MODELS: &[&str] = &[
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "gpt-4.1",
    "gpt-5-mini",
    "o4-mini",
];

/// Price of a model or deployment name (matched by prefix, case-insensitive).
pub fn price(model: &str) -> Option<&'static Price> {
    let m = model.to_ascii_lowercase();
    PRICES.iter().find(|p| m.starts_with(p.model))
}

pub fn cost_usd(p: &Price, input: u64, output: u64) -> f64 {
    (input as f64 * p.input_per_mtok + output as f64 * p.output_per_mtok) / 1e6
}

/// Reasoning models take `max_completion_tokens` and no temperature.
pub fn is_reasoning_model(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| m.starts_with(p))
}

/// The tokenizer family of a model: o200k_base for GPT-4o and later
/// (also used, as the best available stand-in, for unknown models),
/// cl100k_base for GPT-4 / GPT-3.5.
pub fn encoding_name(model: &str) -> &'static str {
    let m = model.to_ascii_lowercase();
    if (m.starts_with("gpt-4") && !m.starts_with("gpt-4o") && !m.starts_with("gpt-4.1"))
        || m.starts_with("gpt-3.5")
    {
        "cl100k_base"
    } else {
        "o200k_base"
    }
}

/// A real BPE tokenizer (ranks bundled in the binary, no download).
pub struct Tokenizer {
    bpe: &'static CoreBPE,
    pub name: &'static str,
}

impl Tokenizer {
    pub fn for_model(model: &str) -> Self {
        match encoding_name(model) {
            "cl100k_base" => Tokenizer {
                bpe: tiktoken_rs::cl100k_base_singleton(),
                name: "cl100k_base",
            },
            _ => Tokenizer {
                bpe: tiktoken_rs::o200k_base_singleton(),
                name: "o200k_base",
            },
        }
    }
}

/// Chat framing per request (system + user message headers, reply priming).
pub const CHAT_OVERHEAD_TOKENS: usize = 11;

impl TokenCounter for Tokenizer {
    fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lookup_prefers_specific_names() {
        assert_eq!(
            price("gpt-4o-mini-2024-07-18").unwrap().model,
            "gpt-4o-mini"
        );
        assert_eq!(price("GPT-4o").unwrap().model, "gpt-4o");
        assert!(price("llama3.1:8b").is_none());
        assert!(is_reasoning_model("o4-mini") && !is_reasoning_model("gpt-4o"));
    }

    #[test]
    fn real_tokenizer_counts_known_text() {
        // "hello world" is two tokens in both encodings.
        assert_eq!(Tokenizer::for_model("gpt-4o").count("hello world"), 2);
        assert_eq!(Tokenizer::for_model("gpt-4").count("hello world"), 2);
    }
}
