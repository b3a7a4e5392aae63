//! A contact's lifecycle and the kinds of events on its timeline.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// 受電: the customer reached out.
    Inbound,
    /// 発信: the center reached out.
    Outbound,
}

impl Direction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Direction::Inbound, Direction::Outbound]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Where a contact is in its life. The first five are open; the rest are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// A call in the IVR (自動音声), not yet in a queue.
    Ivr,
    /// Waiting in a queue (possibly after a failed offer).
    Queued,
    /// Offered to one or more agents, ringing.
    Offered,
    /// An agent is working on it (talking, chatting, doing the task).
    Connected,
    /// Over for the customer; the agent is in after-call work (後処理).
    WrapUp,
    /// Handled and wrapped up.
    Completed,
    /// The customer left (or the task was cancelled) before an agent took it: 放棄.
    Abandoned,
    /// Waited the queue's maximum with nowhere to overflow to.
    TimedOut,
    /// Ended by the center, not by the customer, before an agent talked to them: a restart
    /// or shutdown, a supervisor hanging up, a call lost by the system (中断). Counted apart
    /// from abandons (the customer did not choose to leave).
    Interrupted,
}

impl ContactStatus {
    pub const ALL: [ContactStatus; 9] = [
        ContactStatus::Ivr,
        ContactStatus::Queued,
        ContactStatus::Offered,
        ContactStatus::Connected,
        ContactStatus::WrapUp,
        ContactStatus::Completed,
        ContactStatus::Abandoned,
        ContactStatus::TimedOut,
        ContactStatus::Interrupted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Ivr => "ivr",
            ContactStatus::Queued => "queued",
            ContactStatus::Offered => "offered",
            ContactStatus::Connected => "connected",
            ContactStatus::WrapUp => "wrap_up",
            ContactStatus::Completed => "completed",
            ContactStatus::Abandoned => "abandoned",
            ContactStatus::TimedOut => "timed_out",
            ContactStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            ContactStatus::Ivr
                | ContactStatus::Queued
                | ContactStatus::Offered
                | ContactStatus::Connected
                | ContactStatus::WrapUp
        )
    }

    pub const fn label_ja(self) -> &'static str {
        match self {
            ContactStatus::Ivr => "自動音声応答中",
            ContactStatus::Queued => "待ち呼",
            ContactStatus::Offered => "着信中",
            ContactStatus::Connected => "対応中",
            ContactStatus::WrapUp => "後処理中",
            ContactStatus::Completed => "完了",
            ContactStatus::Abandoned => "放棄",
            ContactStatus::TimedOut => "待ち時間超過",
            ContactStatus::Interrupted => "中断",
        }
    }
}

/// Contacts the center makes itself, and the subject they are given (shown in lists and on
/// the agent's screen; stored with the contact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadeContact {
    /// A caller asked to be called back (コールバック予約).
    Callback,
    /// A caller left a message (留守番電話).
    Voicemail,
    /// An agent placed a call (click-to-call, 発信).
    Outbound,
}

impl MadeContact {
    pub const fn label_ja(self) -> &'static str {
        match self {
            MadeContact::Callback => "コールバック",
            MadeContact::Voicemail => "留守番電話",
            MadeContact::Outbound => "発信",
        }
    }

    pub const fn label_en(self) -> &'static str {
        match self {
            MadeContact::Callback => "Callback",
            MadeContact::Voicemail => "Voicemail",
            MadeContact::Outbound => "Outbound call",
        }
    }

    /// The stored subject: the label and the number it concerns, e.g. `コールバック 0312345678`.
    pub fn subject(self, number: &str) -> String {
        format!("{} {number}", self.label_ja())
    }
}

/// One entry of a contact's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    /// Entered a queue (the event's queue).
    Queued,
    /// Offered to the event's agent.
    Offered,
    Accepted,
    Rejected,
    /// The agent did not answer the offer in time.
    OfferTimedOut,
    /// The offer was taken back (another agent accepted, the agent went not-ready, …).
    OfferWithdrawn,
    /// Waits again after a failed offer, at the front.
    Requeued,
    /// Talking / working with the event's agent.
    Connected,
    Held,
    Resumed,
    /// Moved to another queue or agent by the agent.
    Transferred,
    /// Waited the maximum and moved to the event's queue (the overflow target).
    Overflowed,
    /// Waited the maximum with nowhere to go.
    MaxWaitReached,
    /// The customer left before an agent took it.
    Abandoned,
    /// The center ended it before an agent talked to the customer (restart, shutdown, a
    /// supervisor's hang-up, a call lost): see [`ContactStatus::Interrupted`].
    Interrupted,
    /// The conversation is over.
    Ended,
    /// After-call work finished (with a disposition, possibly).
    AcwDone,
    /// The server restarted while the contact was open; what happened to it is in the data.
    Recovered,
    /// A step of the IVR (node entered, key pressed, lookup result).
    Ivr,
    /// The agent's phone rings (with the ringing time in the data when it stops).
    Ringing,
    /// Recording started, paused, resumed or stopped (in the data).
    Recording,
    /// The caller asked to be called back instead of waiting.
    CallbackRequested,
    /// The caller left a voicemail.
    Voicemail,
    /// A supervisor started or stopped listening, whispering or barging.
    Monitor,
    /// A call's leg hung up: which side, the SIP cause.
    Hangup,
    /// The agent consults someone (dialing, talking, ended; blind transfer progress).
    Consult,
    /// A 3-way call.
    Conference,
    /// The call was transferred to an external number.
    ExternalTransfer,
    /// A leg's RTP figures when it ended (packets, loss, jitter).
    Media,
}

impl EventKind {
    pub const ALL: [EventKind; 30] = [
        EventKind::Created,
        EventKind::Queued,
        EventKind::Offered,
        EventKind::Accepted,
        EventKind::Rejected,
        EventKind::OfferTimedOut,
        EventKind::OfferWithdrawn,
        EventKind::Requeued,
        EventKind::Connected,
        EventKind::Held,
        EventKind::Resumed,
        EventKind::Transferred,
        EventKind::Overflowed,
        EventKind::MaxWaitReached,
        EventKind::Abandoned,
        EventKind::Interrupted,
        EventKind::Ended,
        EventKind::AcwDone,
        EventKind::Recovered,
        EventKind::Ivr,
        EventKind::Ringing,
        EventKind::Recording,
        EventKind::CallbackRequested,
        EventKind::Voicemail,
        EventKind::Monitor,
        EventKind::Hangup,
        EventKind::Consult,
        EventKind::Conference,
        EventKind::ExternalTransfer,
        EventKind::Media,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Queued => "queued",
            EventKind::Offered => "offered",
            EventKind::Accepted => "accepted",
            EventKind::Rejected => "rejected",
            EventKind::OfferTimedOut => "offer_timed_out",
            EventKind::OfferWithdrawn => "offer_withdrawn",
            EventKind::Requeued => "requeued",
            EventKind::Connected => "connected",
            EventKind::Held => "held",
            EventKind::Resumed => "resumed",
            EventKind::Transferred => "transferred",
            EventKind::Overflowed => "overflowed",
            EventKind::MaxWaitReached => "max_wait_reached",
            EventKind::Abandoned => "abandoned",
            EventKind::Interrupted => "interrupted",
            EventKind::Ended => "ended",
            EventKind::AcwDone => "acw_done",
            EventKind::Recovered => "recovered",
            EventKind::Ivr => "ivr",
            EventKind::Ringing => "ringing",
            EventKind::Recording => "recording",
            EventKind::CallbackRequested => "callback_requested",
            EventKind::Voicemail => "voicemail",
            EventKind::Monitor => "monitor",
            EventKind::Hangup => "hangup",
            EventKind::Consult => "consult",
            EventKind::Conference => "conference",
            EventKind::ExternalTransfer => "external_transfer",
            EventKind::Media => "media",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub const fn label_ja(self) -> &'static str {
        match self {
            EventKind::Created => "作成",
            EventKind::Queued => "キュー投入",
            EventKind::Offered => "着信通知",
            EventKind::Accepted => "応答",
            EventKind::Rejected => "拒否",
            EventKind::OfferTimedOut => "無応答",
            EventKind::OfferWithdrawn => "着信取消",
            EventKind::Requeued => "再キュー",
            EventKind::Connected => "接続",
            EventKind::Held => "保留",
            EventKind::Resumed => "保留解除",
            EventKind::Transferred => "転送",
            EventKind::Overflowed => "オーバーフロー",
            EventKind::MaxWaitReached => "最大待ち時間超過",
            EventKind::Abandoned => "放棄",
            EventKind::Interrupted => "中断",
            EventKind::Ended => "終了",
            EventKind::AcwDone => "後処理完了",
            EventKind::Recovered => "再起動後の復旧",
            EventKind::Ivr => "自動音声",
            EventKind::Ringing => "呼出中",
            EventKind::Recording => "録音",
            EventKind::CallbackRequested => "折り返し予約",
            EventKind::Voicemail => "留守番電話",
            EventKind::Monitor => "モニタリング",
            EventKind::Hangup => "切断",
            EventKind::Consult => "取次ぎ",
            EventKind::Conference => "三者通話",
            EventKind::ExternalTransfer => "外線転送",
            EventKind::Media => "通話品質",
        }
    }
}

/// The end reason with which a person ending a waiting contact says the customer gave up (a
/// chat left, a caller who rang off elsewhere): an abandon. Any other end of a waiting
/// contact by a person is the center's doing (interrupted).
pub const CUSTOMER_LEFT: &str = "customer_left";

/// Whether a contact that ends with `reason` before an agent talked to the customer was
/// interrupted by the center rather than left by the customer.
///
/// Reasons are `<side>:<cause>` (sides `caller`, `agent`, `supervisor`, `system`), the
/// caller's own `caller_hangup_ivr` / `caller_hangup_queue` / `caller_left_voicemail`, or a
/// bare cause the center sets itself (`server_restart`, `queue_removed`, `recovery_failed`).
/// The customer's side and the IVR finishing the call itself (`system:ivr`,
/// `system:forwarded_external`) are not interruptions; everything the system or a
/// supervisor did is. (A person ending a waiting contact through the API is an interruption
/// whatever the reason, unless it is [`CUSTOMER_LEFT`]: the actor decides that, knowing who.)
pub fn is_interruption(reason: &str) -> bool {
    match reason.split_once(':') {
        Some(("system", cause)) => !matches!(cause, "ivr" | "forwarded_external"),
        Some(("supervisor", _)) => true,
        Some(_) => false,
        None => matches!(
            reason,
            "server_restart" | "queue_removed" | "recovery_failed" | "shutdown"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interruptions_are_the_centers_doing() {
        for r in [
            "system:shutdown",
            "system:rtp_timeout",
            "system:call_lost",
            "system:resync",
            "supervisor:hangup",
            "server_restart",
            "queue_removed",
        ] {
            assert!(is_interruption(r), "{r}");
        }
        for r in [
            "caller_hangup_queue",
            "caller_hangup_ivr",
            "caller:bye",
            "system:ivr",
            "system:forwarded_external",
            "cancelled",
            "customer closed the chat",
        ] {
            assert!(!is_interruption(r), "{r}");
        }
    }

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in ContactStatus::ALL {
            assert_eq!(ContactStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
