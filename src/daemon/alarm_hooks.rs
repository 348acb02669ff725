//! Alarm hooks: the `[alarms]` commands, told of every alarm raised and
//! cleared (the way smartd's `-M exec` and ZFS's zedlets are), through the
//! one hook runner ([`crate::sweep::hook::run_command`]).
//!
//! Invariants:
//! - A sweep never waits for a hook: each event goes into a bounded queue
//!   ([`QUEUE`]) that one worker thread runs in the order of the events,
//!   one at a time. When the queue is full the event is dropped and
//!   counted in the journal, never waited on.
//! - The command comes from the policy in force when the alarm changed;
//!   it gets the alarm in its environment (`RETENTIOND_ALARM_*`,
//!   `RETENTIOND_HOST`) and nothing on stdin.
//! - `--once` waits for every queued event before it exits; a shutdown
//!   waits for the run in progress at most (its timeout and a second).
//! - A failure (non-zero exit, signal, timeout, cannot start) is logged and
//!   recorded (a `hook` record naming the alarm), and raises `hook-failed`
//!   with the command's policy key as subject at the next sweep; it clears
//!   once a run of that command succeeds. That alarm's raising is not told
//!   to any command: the path that failed cannot carry it, and telling it
//!   would run the failing command again for its own failure. Its
//!   clearing is told (the command works again by then).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Shared;
use crate::audit::schema::{self, AlarmState};
use crate::core::alarm::{Alarm, AlarmKind};
use crate::core::policy::Policy;
use crate::core::units::{Age, Timestamp};

/// Events that may wait for the worker; more are dropped (and counted).
pub const QUEUE: usize = 256;

/// One alarm raised or cleared, with the command that is told of it.
struct Event {
    alarm: Alarm,
    state: AlarmState,
    at: Timestamp,
    command: String,
    /// The policy key the command comes from.
    key: String,
    timeout: Age,
}

/// The alarm commands' queue and worker.
pub struct AlarmHooks {
    tx: SyncSender<Event>,
    worker: std::thread::JoinHandle<()>,
    /// Events queued or running.
    pending: Arc<AtomicUsize>,
    /// Events dropped because the queue was full, since the start.
    dropped: AtomicU64,
    /// Commands whose last run failed, by policy key, with why.
    failing: Arc<Mutex<BTreeMap<String, String>>>,
}

impl AlarmHooks {
    /// Starts the worker; it records failures in `shared`'s audit log.
    pub fn start(shared: Arc<Shared>) -> std::io::Result<AlarmHooks> {
        let (tx, rx) = sync_channel::<Event>(QUEUE);
        let failing: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
        let f2 = failing.clone();
        let pending: Arc<AtomicUsize> = Arc::default();
        let p2 = pending.clone();
        let worker = std::thread::Builder::new().name("alarm-hooks".into()).spawn(move || {
            for ev in rx {
                run(&shared, &f2, ev);
                p2.fetch_sub(1, Ordering::Relaxed);
            }
        })?;
        Ok(AlarmHooks {
            tx,
            worker,
            pending,
            dropped: AtomicU64::new(0),
            failing,
        })
    }

    /// Queues `alarm` going to `state` for the command the policy names
    /// for its kind, if any. Never blocks.
    pub fn tell(&self, shared: &Shared, alarm: &Alarm, state: AlarmState) {
        if state == AlarmState::Raised
            && alarm.kind == AlarmKind::HookFailed
            && lock(&self.failing).contains_key(&alarm.subject)
        {
            return;
        }
        let policy = shared.policy();
        let Some((command, key)) = policy.alarms.command(alarm.kind) else {
            return;
        };
        let ev = Event {
            alarm: alarm.clone(),
            state,
            at: Timestamp::now(),
            command: command.to_string(),
            key,
            timeout: policy.alarms.timeout,
        };
        self.pending.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(ev)) => {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                log::error!(
                    retention_event = "hook-failed";
                    "alarm {} {} for {} not told to {}: {QUEUE} alarm events already wait for their command ({n} dropped since the start)",
                    ev.alarm.kind, state_word(ev.state), ev.alarm.subject, ev.key
                );
            }
            Err(TrySendError::Disconnected(_)) => {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                log::error!("the alarm hooks' worker is gone: alarm {} not told", alarm.kind);
            }
        }
    }

    /// Closes the queue and waits for the worker: until every queued
    /// event is told (`within` None: `--once`), or at most `within` (a
    /// shutdown: the current run ends or is killed at its timeout; what
    /// is still queued then is dropped, and counted in the journal).
    pub fn finish(self, within: Option<Duration>) {
        let AlarmHooks {
            tx, worker, pending, ..
        } = self;
        drop(tx);
        let t0 = Instant::now();
        while !worker.is_finished() {
            if within.is_some_and(|w| t0.elapsed() >= w) {
                log::warn!(
                    "{} alarm events not told to their command: the daemon stops",
                    pending.load(Ordering::Relaxed)
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `hook-failed` alarms for the alarm commands whose last run failed
    /// and that `policy` still names (a reload may have changed them).
    pub fn failure_alarms(&self, policy: &Policy) -> Vec<Alarm> {
        let mut failing = lock(&self.failing);
        failing.retain(|key, _| {
            AlarmKind::ALL
                .iter()
                .any(|k| policy.alarms.command(*k).is_some_and(|(_, k)| k == *key))
        });
        failing
            .iter()
            .map(|(key, text)| Alarm::new(AlarmKind::HookFailed, key, text))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn state_word(s: AlarmState) -> &'static str {
    match s {
        AlarmState::Raised => "raised",
        AlarmState::Cleared => "cleared",
    }
}

/// This box's name, for messages that leave it.
fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The environment an alarm command gets.
fn environment(ev: &Event) -> Vec<(&'static str, String)> {
    let host = host_name();
    let state = state_word(ev.state);
    let summary = format!(
        "retentiond on {host}: {} {state} for {}",
        ev.alarm.kind, ev.alarm.subject
    );
    vec![
        ("RETENTIOND_ALARM_KIND", ev.alarm.kind.code().to_string()),
        ("RETENTIOND_ALARM_SUBJECT", ev.alarm.subject.clone()),
        ("RETENTIOND_ALARM_TEXT", ev.alarm.text.clone()),
        ("RETENTIOND_ALARM_STATE", state.to_string()),
        ("RETENTIOND_ALARM_TIME", ev.at.rfc3339()),
        ("RETENTIOND_ALARM_SUMMARY", summary),
        ("RETENTIOND_ALARM_KEY", ev.key.clone()),
        ("RETENTIOND_HOST", host),
    ]
}

/// Runs one event's command; logs and records its failure.
fn run(shared: &Shared, failing: &Mutex<BTreeMap<String, String>>, ev: Event) {
    let (kind, subject, state) = (ev.alarm.kind.code(), ev.alarm.subject.as_str(), state_word(ev.state));
    match crate::sweep::hook::run_command(&ev.command, &environment(&ev), Vec::new(), ev.timeout) {
        Ok(took) => {
            log::info!(
                retention_event = "hook", retention_alarm = kind, retention_subject = subject;
                "{} told of alarm {kind} {state} for {subject} in {took:.1?}", ev.key
            );
            if lock(failing).remove(&ev.key).is_some() {
                log::info!("{} works again", ev.key);
            }
        }
        Err(why) => {
            let text = format!(
                "the alarm command {} {why} (told of alarm {kind} {state} for {subject}); it is not run again for that event",
                ev.key
            );
            log::error!(retention_event = "hook-failed", retention_alarm = kind, retention_subject = subject; "{text}");
            let rec = schema::Hook {
                command: ev.command.clone(),
                alarm: Some(schema::HookAlarm {
                    kind: kind.to_string(),
                    subject: subject.to_string(),
                    state: ev.state,
                    key: ev.key.clone(),
                }),
                text: text.clone(),
                ..Default::default()
            };
            if let Err(e) = shared.record(&rec) {
                log::error!("cannot record the alarm command's failure in the audit log: {e}");
            }
            lock(failing).insert(ev.key, text);
        }
    }
}
