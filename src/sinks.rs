//! Event sinks that carry the engine's events out of the process. The engine
//! opens the configured ones itself (`EngineConfig.events`); a host may also
//! start one and pass it to [`crate::EngineBuilder::event_sink`] or
//! [`crate::Engine::add_event_sink`].

#[cfg(feature = "nats")]
mod nats;

#[cfg(feature = "nats")]
pub use nats::{NatsSink, subject};
