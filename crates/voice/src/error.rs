//! Why a request on a call (from the API or a phone) cannot be carried out. The switch
//! refuses it and changes nothing; the API answers 409 with the message.

use thiserror::Error;

use crate::io::AgentId;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CallError {
    #[error("the call has ended")]
    Ended,
    #[error("no call for this contact")]
    NoCall,
    #[error("the call has no contact")]
    NoContact,
    #[error("the call is not connected to an agent")]
    NotConnected,
    #[error("agent {0} is on another call")]
    AgentBusy(AgentId),
    #[error("the agent is on another call")]
    PhoneBusy,
    #[error("this call is not being recorded")]
    NotRecorded,
    #[error("an agent cannot monitor their own call")]
    MonitorOwnCall,
    #[error("this supervisor is not monitoring the call")]
    NotMonitoring,
    #[error("a consultation is already in progress")]
    ConsultInProgress,
    #[error("an agent cannot consult themselves")]
    ConsultSelf,
    #[error("no consultation in progress")]
    NoConsultation,
    #[error("the consulted party has not answered")]
    ConsultNotAnswered,
    #[error("finish the consultation first")]
    ConsultFirst,
    #[error("an agent cannot transfer a call to themselves")]
    TransferSelf,
    #[error("an inbound call cannot be started")]
    InboundStart,
    #[error("this contact already has a call")]
    AlreadyHasCall,
    #[error("the call ended while it was being placed")]
    EndedWhilePlacing,
    /// A request sent the wrong way (a shell's bug, not the caller's): refused all the same.
    #[error("{0}")]
    Misrouted(&'static str),
}
