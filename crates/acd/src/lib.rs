//! # tsunagu-acd — the ACD routing engine
//!
//! A sans-IO state machine that decides which waiting contact goes to which agent. It never
//! reads a clock, opens a socket or touches a database: the caller feeds it inputs with the
//! current time and carries out the actions it returns. The same engine therefore runs
//! live (behind the server's tokio task), in tests with a fake clock, and in simulation.
//!
//! ## Drive contract
//!
//! * Configure with [`Engine::upsert_queue`] and [`Engine::upsert_agent`].
//! * Feed inputs: [`Engine::handle_presence`], [`Engine::handle_contact_arrived`],
//!   [`Engine::handle_offer_accepted`], [`Engine::handle_offer_rejected`],
//!   [`Engine::handle_contact_ended`], [`Engine::handle_wrap_up_done`],
//!   [`Engine::handle_transfer`].
//! * Drain [`Engine::poll_action`] after each input; arm a timer for
//!   [`Engine::poll_timeout`] and call [`Engine::handle_timeout`] when it passes.
//!
//! ## The routing rule
//!
//! After every input, until no eligible pair is left: among waiting contacts that at least
//! one free agent may take, the most urgent one — smallest priority-weighted arrival time
//! (`arrived_at − (queue priority + contact priority) × priority_step`), ties by arrival
//! order — is offered to the agent its queue's [`Strategy`] ranks first among those
//! eligible (ring-all: to all of them). An agent is eligible for a contact when they are
//! available, serve its queue, have room on its channel, meet its current skill levels
//! (which relax over waiting time) and have not rejected or missed it in this queue.
//!
//! Because the rule looks at all queues at once, an agent serving several queues always
//! gets the oldest priority-weighted contact among them, not the first queue in a list.
//!
//! ## Layout
//!
//! * `types` — ids, channels, strategies, configuration.
//! * `world` — the shared state and the eligibility and ranking rules.
//! * `engine` — inputs, outputs, timers; applies decisions.
//! * `matcher` — finds the next match: [`Router`] uses ordered indexes, [`NaiveRouter`]
//!   scans every pair and is the reference the property tests compare against.
//! * `timer` — the single deadline queue.
//! * `sim` — a synthetic contact-center workload used by benchmarks and tests.

mod action;
mod engine;
mod error;
pub mod matcher;
pub mod sim;
mod timer;
mod types;
pub mod world;

pub use action::{Action, WithdrawReason};
pub use engine::{Assignment, ContactView, Engine, QueueSnapshot};
pub use error::{RelaxError, RouterError};
pub use types::*;

/// The production router.
pub type Router = Engine<matcher::IndexedMatcher>;

/// The reference router: same rules, linear scan of every (contact, agent) pair.
pub type NaiveRouter = Engine<matcher::NaiveMatcher>;
