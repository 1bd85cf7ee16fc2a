//! Event subscriptions: a callback (a core `EventSink` feeding one dispatch
//! thread) or a queue the host drains with `gaia_poll_event`.

use std::collections::VecDeque;
use std::ffi::{CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};

use futures::{FutureExt, StreamExt};
use gaia::{Engine, Event, EventSink, EventStream};

use crate::engine::{GaiaEngine, handle};
use crate::{
    GAIA_EMPTY, GAIA_OK, GaiaError, UserData, call, call_status, null_argument, out_arg, to_json,
    write_string,
};

/// Called with each event's JSON (borrowed for the call only), in `seq`
/// order, from the subscription's own engine thread.
pub type GaiaEventCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;

/// A subscription to an engine's events. Opaque; freed with
/// `gaia_subscription_free`, which stops it.
pub struct GaiaSubscription {
    engine: Engine,
    kind: Kind,
}

enum Kind {
    Callback {
        sink: Arc<dyn EventSink>,
        dispatch: Arc<Dispatch>,
        thread: Option<JoinHandle<()>>,
    },
    Queue(Mutex<EventStream>),
}

/// Events a callback subscription holds for a slow callback before it drops
/// them (and says how many with one `events_lost`), as the core's streams do.
const QUEUE_CAPACITY: usize = 4_096;

/// Events waiting for the dispatch thread, and whether a callback is running.
struct Dispatch {
    state: Mutex<DispatchState>,
    changed: Condvar,
}

struct DispatchState {
    queue: VecDeque<CString>,
    /// Events dropped since the queue was last full, not yet reported.
    lost: u64,
    closed: bool,
    /// Callbacks running now (0 or 1: one dispatch thread).
    running: usize,
    thread: Option<ThreadId>,
}

impl Dispatch {
    fn lock(&self) -> MutexGuard<'_, DispatchState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, DispatchState>) -> MutexGuard<'a, DispatchState> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The dispatch thread: hands queued events to the host's callback,
    /// outside the engine's event lock, until the subscription is freed.
    fn run(&self, callback: unsafe extern "C" fn(*mut c_void, *const c_char), user_data: UserData) {
        let mut state = self.lock();
        loop {
            if state.closed {
                return;
            }
            let Some(event) = state.queue.pop_front().or_else(|| state.lost_notice()) else {
                state = self.wait(state);
                continue;
            };
            state.running += 1;
            drop(state);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: the host registered `callback` with this signature
                // and keeps `user_data` valid until the subscription is freed;
                // the string outlives the call.
                unsafe { callback(user_data.0, event.as_ptr()) }
            }));
            state = self.lock();
            state.running -= 1;
            self.changed.notify_all();
        }
    }
}

/// The core sink: serializes each event and queues it; never blocks.
struct CallbackSink {
    dispatch: Arc<Dispatch>,
}

impl EventSink for CallbackSink {
    fn publish(&self, event: &Event) {
        let Ok(json) = to_json(event).and_then(|json| {
            CString::new(json).map_err(|_| gaia::Error::Internal("event contains NUL".into()))
        }) else {
            return;
        };
        self.dispatch.lock().push(json);
        self.dispatch.changed.notify_all();
    }
}

impl DispatchState {
    /// Queues an event, or drops it while the queue is full.
    fn push(&mut self, event: CString) {
        if self.closed {
            return;
        }
        if self.queue.len() >= QUEUE_CAPACITY {
            self.lost += 1;
            return;
        }
        // The loss is reported where it happened: before what came after.
        if let Some(notice) = self.lost_notice() {
            self.queue.push_back(notice);
        }
        self.queue.push_back(event);
    }

    /// One `events_lost` for the events dropped so far, if any were.
    fn lost_notice(&mut self) -> Option<CString> {
        if self.lost == 0 {
            return None;
        }
        let event = Event {
            seq: 0,
            at: gaia::Timestamp::now(),
            job_id: None,
            kind: gaia::EventKind::EventsLost {
                count: std::mem::take(&mut self.lost),
            },
        };
        to_json(&event)
            .ok()
            .and_then(|json| CString::new(json).ok())
    }
}

/// Subscribes `callback(user_data, event_json)` to every event from now on.
/// It runs on one engine thread per subscription, in `seq` order, and may
/// call back into the library (even `gaia_subscription_free` on itself). A
/// callback that falls thousands of events behind receives one
/// `events_lost` event saying how many it missed.
///
/// # Safety
/// `engine` a live handle; `out_subscription` points to a writable
/// `GaiaSubscription *`; `user_data` stays valid until
/// `gaia_subscription_free` returned; `out_error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_subscribe(
    engine: *const GaiaEngine,
    callback: GaiaEventCallback,
    user_data: *mut c_void,
    out_subscription: *mut *mut GaiaSubscription,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_subscription, "out_subscription")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        let callback = callback.ok_or_else(|| null_argument("callback"))?;
        let dispatch = Arc::new(Dispatch {
            state: Mutex::new(DispatchState {
                queue: VecDeque::new(),
                lost: 0,
                closed: false,
                running: 0,
                thread: None,
            }),
            changed: Condvar::new(),
        });
        let user_data = UserData(user_data);
        let runner = dispatch.clone();
        let thread = std::thread::Builder::new()
            .name("gaia-events".into())
            .spawn(move || runner.run(callback, user_data))
            .map_err(|e| gaia::Error::Internal(format!("starting the event thread: {e}")))?;
        dispatch.lock().thread = Some(thread.thread().id());
        let sink = engine.add_event_sink(Arc::new(CallbackSink {
            dispatch: dispatch.clone(),
        }));
        let subscription = Box::new(GaiaSubscription {
            engine,
            kind: Kind::Callback {
                sink,
                dispatch,
                thread: Some(thread),
            },
        });
        // SAFETY: checked by `out_arg`; released by `gaia_subscription_free`.
        unsafe { *out_subscription = Box::into_raw(subscription) };
        Ok(())
    })
}

/// Subscribes a queue to every event from now on, drained with
/// `gaia_poll_event` on whatever thread the host likes (a game's main loop).
/// A queue that falls thousands of events behind receives one
/// `events_lost` event saying how many it missed.
///
/// # Safety
/// As `gaia_subscribe`, without the callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_subscribe_queue(
    engine: *const GaiaEngine,
    out_subscription: *mut *mut GaiaSubscription,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_subscription, "out_subscription")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        let stream = engine.events();
        let subscription = Box::new(GaiaSubscription {
            engine,
            kind: Kind::Queue(Mutex::new(stream)),
        });
        // SAFETY: checked by `out_arg`; released by `gaia_subscription_free`.
        unsafe { *out_subscription = Box::into_raw(subscription) };
        Ok(())
    })
}

/// Takes the next waiting event of a queue subscription without blocking:
/// `GAIA_OK` with its JSON in `*out_event_json` (free with
/// `gaia_string_free`), or `GAIA_EMPTY` when nothing is waiting.
///
/// # Safety
/// `subscription` a live queue subscription; `out_event_json` points to a
/// writable `char *`; `out_error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_poll_event(
    subscription: *mut GaiaSubscription,
    out_event_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call_status(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_event_json, "out_event_json")? };
        // SAFETY: NULL or a live subscription by the caller's contract.
        let subscription =
            unsafe { subscription.as_ref() }.ok_or_else(|| null_argument("subscription"))?;
        let Kind::Queue(stream) = &subscription.kind else {
            return Err(gaia::Error::invalid(
                "subscription",
                "a callback subscription cannot be polled (use gaia_subscribe_queue)",
            ));
        };
        let mut stream = stream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match stream.next().now_or_never() {
            Some(Some(event)) => {
                // SAFETY: checked by `out_arg`.
                unsafe { write_string(out_event_json, to_json(&event)?)? };
                Ok(GAIA_OK)
            }
            Some(None) | None => Ok(GAIA_EMPTY),
        }
    })
}

/// Stops a subscription and frees it. For a callback subscription it returns
/// only after a running callback has finished, so no callback reaches
/// `user_data` afterwards; called from inside its own callback it does not
/// wait (and does not deadlock): that callback is the last. NULL is ignored.
///
/// # Safety
/// `subscription` is NULL or a subscription from this library, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_subscription_free(subscription: *mut GaiaSubscription) {
    if subscription.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `gaia_subscribe*`, freed once.
    let subscription = unsafe { Box::from_raw(subscription) };
    let _ = catch_unwind(AssertUnwindSafe(move || stop(*subscription)));
}

fn stop(subscription: GaiaSubscription) {
    let GaiaSubscription { engine, kind } = subscription;
    let Kind::Callback {
        sink,
        dispatch,
        thread,
    } = kind
    else {
        return;
    };
    // After this no `publish` reaches the sink (removal takes the bus lock).
    engine.remove_event_sink(&sink);
    let mut state = dispatch.lock();
    state.closed = true;
    state.queue.clear();
    dispatch.changed.notify_all();
    if state.thread == Some(std::thread::current().id()) {
        // Freed from inside the callback: the dispatch thread ends when the
        // callback returns; waiting here would wait for ourselves.
        return;
    }
    while state.running > 0 {
        state = dispatch.wait(state);
    }
    drop(state);
    if let Some(thread) = thread {
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn state() -> DispatchState {
        DispatchState {
            queue: VecDeque::new(),
            lost: 0,
            closed: false,
            running: 0,
            thread: None,
        }
    }

    fn event(n: usize) -> CString {
        CString::new(format!("{{\"n\":{n}}}")).unwrap()
    }

    fn kind(json: &CString) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_slice(json.as_bytes()).unwrap();
        value["type"].clone()
    }

    #[test]
    fn a_full_queue_drops_events_and_reports_them_once() {
        let mut state = state();
        for n in 0..QUEUE_CAPACITY + 10 {
            state.push(event(n));
        }
        assert_eq!((state.queue.len(), state.lost), (QUEUE_CAPACITY, 10));

        // The callback caught up: the loss comes before what follows it.
        state.queue.clear();
        state.push(event(0));
        assert_eq!(state.queue.len(), 2);
        assert_eq!(kind(&state.queue[0]), "events_lost");
        let notice: serde_json::Value = serde_json::from_slice(state.queue[0].as_bytes()).unwrap();
        assert_eq!(notice["count"], 10);
        assert_eq!(state.queue[1], event(0));
        assert_eq!(state.lost, 0);
    }

    #[test]
    fn a_loss_with_nothing_after_it_is_reported_when_the_queue_drains() {
        let mut state = state();
        state.lost = 3;
        let notice = state.lost_notice().unwrap();
        assert_eq!(kind(&notice), "events_lost");
        assert!(state.lost_notice().is_none(), "reported once");
    }
}
