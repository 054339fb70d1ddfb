//! A member's backend quota, which etcd's gRPC API does not report: read from the Prometheus
//! text its client URL serves at `/metrics` (`etcd_server_quota_backend_bytes`, since etcd
//! 3.4), with one `GET` (`http.rs`) over the same TLS as every other call (the cluster CA, the
//! client certificate); the answer is read up to [`MAX_METRICS`].

use std::time::Duration;

use crate::client::endpoint::EndpointUrl;
use crate::client::http::{self, HttpError};
use crate::client::tls::EndpointTls;

/// The metric holding the quota.
const QUOTA_METRIC: &str = "etcd_server_quota_backend_bytes";
/// The most of `/metrics` read (a member serves some 200 kB).
const MAX_METRICS: u64 = 8 * 1024 * 1024;

/// Why the quota could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetricsError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("/metrics has no {QUOTA_METRIC}")]
    Missing,
}

/// The quota in bytes of the member at `ep`.
pub(crate) async fn quota(
    ep: &EndpointUrl,
    tls: Option<&EndpointTls>,
    timeout: Duration,
) -> Result<i64, MetricsError> {
    let text = tokio::time::timeout(timeout, http::get(ep, tls, "/metrics", MAX_METRICS))
        .await
        .map_err(|_| MetricsError::Timeout(timeout))??;
    parse_quota(&text).ok_or(MetricsError::Missing)
}

/// The quota from Prometheus text: the sample line `etcd_server_quota_backend_bytes 2.147483648e+09`.
/// (A chunked body may split a line only between chunks of several kB; the sample line is
/// short and read whole in practice, and a split one is reported as missing.)
pub(crate) fn parse_quota(text: &str) -> Option<i64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(QUOTA_METRIC)?.strip_prefix(' ')?;
        let bytes: f64 = value.trim().parse().ok()?;
        (bytes.is_finite() && bytes >= 0.0).then_some(bytes as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_sample_is_read_in_prometheus_notation() {
        // As etcd 3.4.23 printed it for --quota-backend-bytes 12345678.
        let text =
            "# HELP etcd_server_quota_backend_bytes Current backend storage quota size in bytes.\n\
                    # TYPE etcd_server_quota_backend_bytes gauge\n\
                    etcd_server_quota_backend_bytes 1.2345678e+07\n\
                    etcd_server_quota_backend_bytes_other 5\n";
        assert_eq!(parse_quota(text), Some(12_345_678));
        assert_eq!(parse_quota("etcd_server_quota_backend_bytes NaN\n"), None);
        assert_eq!(parse_quota("nothing here\n"), None);
    }
}
