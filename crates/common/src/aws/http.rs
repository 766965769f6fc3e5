//! The HTTP client every AWS call goes through: the SDK's own default (hyper 1.x, rustls with
//! aws-lc, proxies from `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`), except that TLS is set up only
//! when a request needs it.
//!
//! The SDK's default client builds its TLS configuration, reading and parsing every CA
//! certificate on the system, as soon as the config is loaded (the web-identity credential
//! provider's STS client validates it eagerly), whether or not any request ever uses TLS.
//! That was about half of a tool's CPU time before its first request, and a few MB of memory.
//! Here a request to an `http://` endpoint (the local AWS, a loopback test double) goes through
//! a plain connector; the TLS connector is built on the first `https://` request, once.
//!
//! Every request goes through [`Held`] too: an EC2 request the pacer holds ([`PaceUntil`])
//! waits here, and the attempt timeout (`--attempt-timeout`) starts when it leaves, so that
//! the wait for a token is not mistaken for a slow reply; the SDK's operation timeout counts
//! the wait, as it counts its own retry backoff.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::aws::pace::PaceUntil;

/// The client to give the config loader: each attempt gets `attempt` to be answered, counted
/// from when the pacer lets it go.
pub(crate) fn client(attempt: Duration) -> SharedHttpClient {
    SharedHttpClient::new(LazyTlsClient {
        plain: connector_client(false),
        tls: connector_client(true),
        attempt,
        connectors: Mutex::default(),
    })
}

/// A client whose connectors are built as the SDK builds its default ones (settings, sleep,
/// proxies from the environment), with or without TLS. The returned client caches its
/// connectors (and so its connection pools) per settings.
fn connector_client(with_tls: bool) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = ConnectorBuilder::default();
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        if with_tls {
            builder.tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc)).build()
        } else {
            builder.build_http()
        }
    })
}

/// The timeouts a connector is built with: one connector (and connection pool) for each.
type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug)]
struct LazyTlsClient {
    plain: SharedHttpClient,
    tls: SharedHttpClient,
    attempt: Duration,
    /// Asked for once per attempt; built once per settings, as the SDK's own client does.
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for LazyTlsClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Held {
            attempt: self.attempt,
            by_scheme: Arc::new(ByScheme {
                plain: self.plain.http_connector(settings, components),
                tls: LazyConnector {
                    client: self.tls.clone(),
                    settings: settings.clone(),
                    components: components.clone(),
                    connector: OnceLock::new(),
                },
            }),
        });
        connectors.push((key, connector.clone()));
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.tls.connector_metadata()
    }
}

/// Holds a request until the pacer lets it go, then gives it `attempt` to be answered.
#[derive(Debug)]
struct Held {
    attempt: Duration,
    by_scheme: Arc<ByScheme>,
}

impl HttpConnector for Held {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let until = request.extension::<PaceUntil>().map(|p| p.0);
        let (attempt, by_scheme) = (self.attempt, self.by_scheme.clone());
        HttpConnectorFuture::new(async move {
            if let Some(until) = until {
                tokio::time::sleep_until(until.into()).await;
            }
            match tokio::time::timeout(attempt, by_scheme.call(request)).await {
                Ok(reply) => reply,
                Err(_) => Err(ConnectorError::timeout(format!("no reply within the attempt timeout ({}s)", attempt.as_secs_f64()).into())),
            }
        })
    }
}

/// Sends `http://` requests through the plain connector, everything else through TLS.
#[derive(Debug)]
struct ByScheme {
    plain: SharedHttpConnector,
    tls: LazyConnector,
}

impl ByScheme {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if is_plain_http(request.uri()) {
            self.plain.call(request)
        } else {
            self.tls.get().call(request)
        }
    }
}

#[derive(Debug)]
struct LazyConnector {
    client: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
    connector: OnceLock<SharedHttpConnector>,
}

impl LazyConnector {
    fn get(&self) -> &SharedHttpConnector {
        self.connector.get_or_init(|| self.client.http_connector(&self.settings, &self.components))
    }
}

fn is_plain_http(uri: &str) -> bool {
    uri.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_skip_tls() {
        assert!(is_plain_http("http://127.0.0.1:5000/"));
        assert!(is_plain_http("HTTP://localhost"));
        assert!(!is_plain_http("https://ec2.us-east-1.amazonaws.com/"));
        assert!(!is_plain_http("httpx://x"));
        assert!(!is_plain_http("http:/"));
    }
}
