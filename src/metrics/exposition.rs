//! Writes the registry in the Prometheus text format (0.0.4) or OpenMetrics 1.0: each family's
//! `HELP` and `TYPE`, then its samples, the workers' cells summed per label set.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::cells::{HistogramSnapshot, BUCKET_BOUNDS_US};

/// Which text format the scraper asked for (its `Accept` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when `accept` lists it, else the Prometheus text format.
    pub fn from_accept(accept: &str) -> Self {
        if accept.to_ascii_lowercase().contains("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up; its samples end in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_bucket`, `_sum`, `_count`.
    Histogram,
}

/// Label pairs of one sample, in order.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// The text being written.
pub struct Writer {
    format: Format,
    out: String,
}

impl Writer {
    /// An empty exposition in `format`.
    pub fn new(format: Format) -> Self {
        Writer { format, out: String::with_capacity(16 * 1024) }
    }

    /// Starts a family: `name` without `_total` for counters.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind_text = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        // Prometheus's text format names a counter family with its `_total`; OpenMetrics without.
        let family = match (kind, self.format) {
            (Kind::Counter, Format::Prometheus) => format!("{name}_total"),
            _ => name.to_string(),
        };
        let _ = writeln!(self.out, "# HELP {family} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {family} {kind_text}");
    }

    /// A counter's sample (`name` without `_total`).
    pub fn counter(&mut self, name: &str, labels: Labels<'_>, value: u64) {
        self.sample(&format!("{name}_total"), labels, None, &value.to_string());
    }

    /// A gauge's sample.
    pub fn gauge(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.sample(name, labels, None, &number(value));
    }

    /// A histogram's samples, from non-cumulative bucket counts in microseconds, written in
    /// seconds.
    pub fn histogram(&mut self, name: &str, labels: Labels<'_>, histogram: &HistogramSnapshot) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        for (index, count) in histogram.buckets.iter().enumerate() {
            cumulative += count;
            let bound = match BUCKET_BOUNDS_US.get(index) {
                Some(&micros) => number(micros as f64 / 1e6),
                None => "+Inf".to_string(),
            };
            self.sample(&bucket, labels, Some(&bound), &cumulative.to_string());
        }
        self.sample(&format!("{name}_sum"), labels, None, &number(histogram.sum_us as f64 / 1e6));
        self.sample(&format!("{name}_count"), labels, None, &cumulative.to_string());
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, le: Option<&str>, value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() || le.is_some() {
            self.out.push('{');
            let mut first = true;
            for (key, value) in labels.iter().copied().chain(le.map(|bound| ("le", bound))) {
                if !first {
                    self.out.push(',');
                }
                first = false;
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }

    /// The finished text (OpenMetrics ends with `# EOF`).
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// Sums values per key in key order, so the exposition is stable from scrape to scrape.
pub type Merged<K, V> = BTreeMap<K, V>;

fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cells::Histogram;

    #[test]
    fn counters_and_histograms_are_written_as_each_format_names_them() {
        let histogram = Histogram::default();
        histogram.observe_us(300);
        histogram.observe_us(2_000_000);
        let cases = [
            (
                Format::Prometheus,
                "# HELP demo_total Demo \\\\ help.\n# TYPE demo_total counter\ndemo_total{api=\"a\\\"b\\\\c\\nd\"} 3\n",
            ),
            (
                Format::OpenMetrics,
                "# HELP demo Demo \\\\ help.\n# TYPE demo counter\ndemo_total{api=\"a\\\"b\\\\c\\nd\"} 3\n",
            ),
        ];
        for (format, counter_text) in cases {
            let mut writer = Writer::new(format);
            writer.family("demo", Kind::Counter, "Demo \\ help.");
            writer.counter("demo", &[("api", "a\"b\\c\nd")], 3);
            writer.family("latency_seconds", Kind::Histogram, "Latency.");
            writer.histogram("latency_seconds", &[("api", "x")], &histogram.read());
            let text = writer.finish();
            assert!(text.starts_with(counter_text), "{format:?}:\n{text}");
            assert!(text.contains("latency_seconds_bucket{api=\"x\",le=\"0.0005\"} 1\n"), "{text}");
            assert!(text.contains("latency_seconds_bucket{api=\"x\",le=\"1\"} 1\n"), "{text}");
            assert!(text.contains("latency_seconds_bucket{api=\"x\",le=\"2.5\"} 2\n"), "{text}");
            assert!(text.contains("latency_seconds_bucket{api=\"x\",le=\"+Inf\"} 2\n"), "{text}");
            assert!(text.contains("latency_seconds_sum{api=\"x\"} 2.0003\n"), "{text}");
            assert!(text.contains("latency_seconds_count{api=\"x\"} 2\n"), "{text}");
            assert_eq!(text.ends_with("# EOF\n"), format == Format::OpenMetrics);
        }
    }

    #[test]
    fn the_accept_header_chooses_the_format() {
        let cases = [
            ("", Format::Prometheus),
            ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", Format::Prometheus),
            ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", Format::OpenMetrics),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::from_accept(accept), expected, "{accept}");
        }
    }
}
