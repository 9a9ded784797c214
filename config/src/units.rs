//! Human-friendly quantities used in pier.toml: byte sizes ("64GiB") and durations ("30s").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number of bytes, written either as an integer or as a string with a unit ("512MiB", "1 GB").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Bytes {
    pub fn get(self) -> u64 {
        self.0
    }

    /// nats-server and JetStream keep sizes as signed 64-bit integers.
    fn checked(bytes: u64) -> Result<Bytes, String> {
        if bytes > i64::MAX as u64 {
            return Err(format!(
                "{bytes} bytes is more than nats-server can represent"
            ));
        }
        Ok(Bytes(bytes))
    }
}

impl FromStr for Bytes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s
            .trim()
            .parse::<bytesize::ByteSize>()
            .map_err(|e| format!("invalid size {s:?} ({e}); write e.g. \"512MiB\" or \"64GiB\""))?;
        Bytes::checked(bytes.as_u64())
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size in bytes, as an integer or a string such as \"64GiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom(format!("a size cannot be negative (got {v})")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Bytes::checked(v).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(BytesVisitor)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// A duration written as a string: "500ms", "30s", "2m", "7d", "1h 30m".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Duration);

impl Span {
    /// The longest duration pier accepts: every consumer of a duration (Go's `time.Duration` in
    /// nats-server's configuration, JetStream's API, pier's own deadlines) carries nanoseconds in
    /// a signed 64-bit integer, about 292 years.
    pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

    pub fn get(self) -> Duration {
        self.0
    }

    /// The duration in Go's `time.ParseDuration` syntax, which nats-server reads ("1h30m", "500ms").
    pub fn to_go(self) -> String {
        go_duration(self.0)
    }
}

/// Formats a duration the way Go's `time.ParseDuration` reads it, shortest form first.
pub fn go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let millis = d.as_millis();
    if millis % 1000 != 0 || d.subsec_nanos() % 1_000_000 != 0 {
        // Sub-second precision: nanoseconds are exact and Go accepts them.
        if d.subsec_nanos() % 1_000_000 == 0 {
            return format!("{millis}ms");
        }
        return format!("{}ns", d.as_nanos());
    }
    let mut secs = d.as_secs();
    let hours = secs / 3600;
    secs %= 3600;
    let minutes = secs / 60;
    secs %= 60;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 {
        out.push_str(&format!("{secs}s"));
    }
    out
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?} ({e}); write e.g. \"500ms\", \"30s\", \"2m\" or \"7d\"")
        })?;
        if d > Span::MAX {
            return Err(format!(
                "duration {s:?} is longer than nats-server and JetStream can carry (at most \
                 about 292 years: nanoseconds in a signed 64-bit integer)"
            ));
        }
        Ok(Span(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpanVisitor;
        impl Visitor<'_> for SpanVisitor {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"30s\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                Err(E::custom(format!(
                    "a bare number is ambiguous as a duration; write it with a unit, e.g. \"{v}s\""
                )))
            }
        }
        deserializer.deserialize_any(SpanVisitor)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_go())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_units_and_integers() {
        assert_eq!("64GiB".parse::<Bytes>().unwrap(), Bytes(64 << 30));
        assert_eq!("1 MiB".parse::<Bytes>().unwrap(), Bytes(1 << 20));
        assert_eq!("1MB".parse::<Bytes>().unwrap(), Bytes(1_000_000));
        assert!("lots".parse::<Bytes>().is_err());
        assert!("16EiB".parse::<Bytes>().is_err());
    }

    #[test]
    fn durations_render_as_go_reads_them() {
        assert_eq!("30s".parse::<Span>().unwrap().to_go(), "30s");
        assert_eq!("2m".parse::<Span>().unwrap().to_go(), "2m");
        assert_eq!("7d".parse::<Span>().unwrap().to_go(), "168h");
        assert_eq!("1h 30m 5s".parse::<Span>().unwrap().to_go(), "1h30m5s");
        assert_eq!("500ms".parse::<Span>().unwrap().to_go(), "500ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn durations_fit_in_signed_nanoseconds() {
        let err = "600years".parse::<Span>().unwrap_err();
        assert!(err.contains("longer than"), "{err}");
        assert!("292years".parse::<Span>().is_ok());
        assert!("293years".parse::<Span>().is_err());
        assert_eq!(Span(Span::MAX).to_go(), "9223372036854775807ns");
    }
}
