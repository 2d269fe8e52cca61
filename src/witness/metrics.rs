//! The witness's Prometheus metrics, served as text at its `GET /metrics`: what it cosigned,
//! what it refused and why, the alarms it holds, and how far its mirror got.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// The witness's metric handles.
pub struct WitnessMetrics {
    registry: Registry,
    cosignatures: Counter,
    refusals: Family<ReasonLabels, Counter>,
    cosigned_size: Gauge,
    alarms: Gauge,
    mirror_size: Gauge,
    mirror_errors: Counter,
    mirror_last_success: Gauge,
}

impl std::fmt::Debug for WitnessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WitnessMetrics")
    }
}

impl Default for WitnessMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl WitnessMetrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("notarium_witness");
        let cosignatures = Counter::default();
        registry.register("cosignatures", "Cosignatures given", cosignatures.clone());
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refusals",
            "Checkpoints refused, by reason",
            refusals.clone(),
        );
        let cosigned_size = Gauge::default();
        registry.register(
            "cosigned_size",
            "Tree size of the latest checkpoint cosigned",
            cosigned_size.clone(),
        );
        let alarms = Gauge::default();
        registry.register(
            "alarms",
            "Distinct alarms recorded (split views, inconsistent proofs, mirror mismatches); \
             anything above 0 needs a person",
            alarms.clone(),
        );
        let mirror_size = Gauge::default();
        registry.register(
            "mirror_size",
            "Entries mirrored and verified",
            mirror_size.clone(),
        );
        let mirror_errors = Counter::default();
        registry.register(
            "mirror_errors",
            "Mirror polls that failed",
            mirror_errors.clone(),
        );
        let mirror_last_success = Gauge::default();
        registry.register(
            "mirror_last_success_seconds",
            "POSIX time of the last successful mirror poll",
            mirror_last_success.clone(),
        );
        Self {
            registry,
            cosignatures,
            refusals,
            cosigned_size,
            alarms,
            mirror_size,
            mirror_errors,
            mirror_last_success,
        }
    }

    /// A cosignature was given for a tree of `size`.
    pub fn cosigned(&self, size: u64) {
        self.cosignatures.inc();
        self.set_cosigned_size(size);
    }

    /// Sets the cosigned size (at start-up, from the database).
    pub fn set_cosigned_size(&self, size: u64) {
        self.cosigned_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }

    /// A checkpoint was refused.
    pub fn refused(&self, reason: &str) {
        self.refusals
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// Sets the number of distinct alarms held.
    pub fn set_alarms(&self, n: u64) {
        self.alarms.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The mirror reached `size`.
    pub fn mirrored(&self, size: u64, now: u64) {
        self.mirror_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
        self.mirror_last_success
            .set(i64::try_from(now).unwrap_or(i64::MAX));
    }

    /// A mirror poll failed.
    pub fn mirror_failed(&self) {
        self.mirror_errors.inc();
    }

    /// The metrics as Prometheus text.
    pub fn render(&self) -> Option<String> {
        let mut out = String::new();
        encode(&mut out, &self.registry).ok()?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_counted() {
        let m = WitnessMetrics::new();
        m.cosigned(42);
        m.refused("split-view");
        m.set_alarms(1);
        m.mirrored(40, 1_700_000_000);
        let text = m.render().unwrap();
        assert!(
            text.contains("notarium_witness_cosignatures_total 1"),
            "{text}"
        );
        assert!(text.contains("notarium_witness_cosigned_size 42"), "{text}");
        assert!(
            text.contains("notarium_witness_refusals_total{reason=\"split-view\"} 1"),
            "{text}"
        );
        assert!(text.contains("notarium_witness_alarms 1"), "{text}");
        assert!(text.contains("notarium_witness_mirror_size 40"), "{text}");
    }
}
