//! The demo behaviour until the IVR exists, as a sans-IO state machine: welcome the caller, read back
//! each key pressed (a key interrupts the prompt playing), hang up on `#` or when nobody presses anything.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Welcome,
    Digit(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop whatever plays and play this.
    Play(Prompt),
    Hangup(&'static str),
}

pub struct Demo {
    idle_timeout: Duration,
    max_duration: Duration,
    /// Time (since the call was answered) of the last key or the end of the last prompt.
    last_activity: Duration,
    playing: bool,
    hangup_after_prompt: bool,
    done: bool,
}

impl Demo {
    pub fn new(idle_timeout: Duration, max_duration: Duration) -> Self {
        Demo {
            idle_timeout,
            max_duration,
            last_activity: Duration::ZERO,
            playing: false,
            hangup_after_prompt: false,
            done: false,
        }
    }

    pub fn start(&mut self) -> Vec<Action> {
        self.playing = true;
        vec![Action::Play(Prompt::Welcome)]
    }

    pub fn on_key(&mut self, key: char, now: Duration) -> Vec<Action> {
        if self.done || self.hangup_after_prompt {
            return vec![];
        }
        self.last_activity = now;
        self.playing = true;
        if key == '#' {
            self.hangup_after_prompt = true;
        }
        vec![Action::Play(Prompt::Digit(key))]
    }

    pub fn on_prompt_done(&mut self, now: Duration) -> Vec<Action> {
        self.playing = false;
        self.last_activity = now;
        if self.hangup_after_prompt && !self.done {
            self.done = true;
            return vec![Action::Hangup("caller-pressed-pound")];
        }
        vec![]
    }

    pub fn on_tick(&mut self, now: Duration) -> Vec<Action> {
        if self.done {
            return vec![];
        }
        let cause = if now >= self.max_duration {
            "max-duration"
        } else if !self.playing && now.saturating_sub(self.last_activity) >= self.idle_timeout {
            "idle-timeout"
        } else {
            return vec![];
        };
        self.done = true;
        vec![Action::Hangup(cause)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn welcome_keys_and_pound() {
        let mut d = Demo::new(s(10.0), s(600.0));
        assert_eq!(d.start(), vec![Action::Play(Prompt::Welcome)]);
        // Barge-in: a key during the welcome replaces it.
        assert_eq!(d.on_key('5', s(1.0)), vec![Action::Play(Prompt::Digit('5'))]);
        assert!(d.on_prompt_done(s(1.5)).is_empty());
        assert_eq!(d.on_key('#', s(3.0)), vec![Action::Play(Prompt::Digit('#'))]);
        assert!(d.on_key('1', s(3.1)).is_empty(), "keys after # are ignored");
        assert_eq!(
            d.on_prompt_done(s(4.0)),
            vec![Action::Hangup("caller-pressed-pound")]
        );
        assert!(d.on_tick(s(100.0)).is_empty());
    }

    #[test]
    fn idle_timeout_counts_from_the_end_of_the_prompt() {
        let mut d = Demo::new(s(10.0), s(600.0));
        d.start();
        assert!(d.on_tick(s(12.0)).is_empty(), "still playing the welcome");
        d.on_prompt_done(s(12.0));
        assert!(d.on_tick(s(21.9)).is_empty());
        assert_eq!(d.on_tick(s(22.0)), vec![Action::Hangup("idle-timeout")]);
    }

    #[test]
    fn max_duration() {
        let mut d = Demo::new(s(1000.0), s(60.0));
        d.start();
        assert_eq!(d.on_tick(s(60.0)), vec![Action::Hangup("max-duration")]);
    }
}
