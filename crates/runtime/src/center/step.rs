//! What one step of a tenant actor accumulates before committing (the contacts it touched
//! are the contact core's to say): timeline events, agent state changes, notes, and the live events and call directives to send after
//! the commit.

use tsunagu_store::rows::{AgentStateRow, ContactEventRow, NoteRow};
use tsunagu_store::Write;

use super::events::Envelope;
use super::VoiceDirective;

#[derive(Default)]
pub(crate) struct Step {
    pub events: Vec<ContactEventRow>,
    /// Agents whose state may have changed.
    pub agents: Vec<i64>,
    pub agent_states: Vec<AgentStateRow>,
    pub notes: Vec<NoteRow>,
    pub outbox: Vec<Envelope>,
    /// What the telephony shell must do for calls, sent after the commit.
    pub voice: Vec<VoiceDirective>,
}

impl Step {
    pub fn touch_agent(&mut self, id: i64) {
        if !self.agents.contains(&id) {
            self.agents.push(id);
        }
    }

    /// The batch in an order foreign keys accept: contact rows, then their events, then
    /// agent states and notes.
    pub fn writes(&mut self, contact_rows: Vec<Write>) -> Vec<Write> {
        let mut w = contact_rows;
        w.extend(self.events.drain(..).map(Write::Event));
        w.extend(self.agent_states.drain(..).map(Write::AgentState));
        w.extend(self.notes.drain(..).map(Write::Note));
        w
    }
}
