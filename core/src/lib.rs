//! pcaplens-core (skeleton; being filled in)
pub mod capture;
pub mod generate;
