//! Prometheus metrics, rendered in the text exposition format at `/metrics`.
//!
//! Hot paths (RTP per packet) keep their own counters and add them here in batches, so one lock per
//! family is enough.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

struct Family {
    help: &'static str,
    kind: Kind,
    series: BTreeMap<Labels, Series>,
}

#[derive(Default, Clone)]
struct Series {
    value: f64,
    /// Histogram: cumulative counts per bucket bound, sum in `value`, count in `count`.
    buckets: Vec<u64>,
    count: u64,
}

/// Bounds, in seconds, for every histogram: from RTP-scale to ASR-scale durations.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0];

#[derive(Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &[(&'static str, &str)],
        f: impl FnOnce(&mut Series),
    ) {
        let mut families = self.families.lock().expect("metrics lock");
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        debug_assert!(family.kind == kind, "metric {name} used as two kinds");
        let key: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        f(family.series.entry(key).or_default());
    }

    pub fn inc_by(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], by: f64) {
        self.with(name, help, Kind::Counter, labels, |s| s.value += by);
    }

    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) {
        self.inc_by(name, help, labels, 1.0);
    }

    pub fn set(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.with(name, help, Kind::Gauge, labels, |s| s.value = value);
    }

    pub fn add(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], by: f64) {
        self.with(name, help, Kind::Gauge, labels, |s| s.value += by);
    }

    /// Records one observation (in seconds) into a histogram.
    pub fn observe(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], v: f64) {
        self.with(name, help, Kind::Histogram, labels, |s| {
            if s.buckets.is_empty() {
                s.buckets = vec![0; BUCKETS.len()];
            }
            for (i, b) in BUCKETS.iter().enumerate() {
                if v <= *b {
                    s.buckets[i] += 1;
                }
            }
            s.value += v;
            s.count += 1;
        });
    }

    /// The value of one series, for tests and the API.
    pub fn get(&self, name: &str, labels: &[(&'static str, &str)]) -> Option<f64> {
        let families = self.families.lock().expect("metrics lock");
        let key: Labels = labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
        families.get(name)?.series.get(&key).map(|s| s.value)
    }

    pub fn render(&self) -> String {
        let families = self.families.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, f) in families.iter() {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", f.help);
            for (labels, s) in &f.series {
                if f.kind == Kind::Histogram {
                    for (i, b) in BUCKETS.iter().enumerate() {
                        let le = b.to_string();
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            fmt_labels(labels, Some(&le)),
                            s.buckets[i]
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        fmt_labels(labels, Some("+Inf")),
                        s.count
                    );
                    let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(labels, None), s.value);
                    let _ = writeln!(out, "{name}_count{} {}", fmt_labels(labels, None), s.count);
                } else {
                    let _ = writeln!(out, "{name}{} {}", fmt_labels(labels, None), s.value);
                }
            }
        }
        out
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
            )
        })
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inc(
            "koe_sip_requests_total",
            "SIP requests received",
            &[("method", "INVITE")],
        );
        m.inc(
            "koe_sip_requests_total",
            "SIP requests received",
            &[("method", "INVITE")],
        );
        m.set("koe_active_calls", "Calls in progress", &[], 3.0);
        m.observe("koe_asr_decode_seconds", "Decode time", &[("kind", "final")], 0.3);
        let text = m.render();
        assert!(text.contains("# TYPE koe_sip_requests_total counter"));
        assert!(text.contains("koe_sip_requests_total{method=\"INVITE\"} 2"));
        assert!(text.contains("koe_active_calls 3"));
        assert!(text.contains("koe_asr_decode_seconds_bucket{kind=\"final\",le=\"0.5\"} 1"));
        assert!(text.contains("koe_asr_decode_seconds_bucket{kind=\"final\",le=\"0.25\"} 0"));
        assert!(text.contains("koe_asr_decode_seconds_count{kind=\"final\"} 1"));
    }
}
