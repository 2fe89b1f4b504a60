//! `--otlp-endpoint`: the request and batch spans exported over OTLP (HTTP/protobuf), for a
//! collector, Jaeger or any backend that takes OTLP. Off unless the flag is given; the exporter
//! needs the `otlp` cargo feature (`cargo run -p coalesce-demo --features otlp -- ...`), which
//! keeps its dependencies out of the default build.
//!
//! Exported: each request's `graphql.execute` span and its loaders' batch spans (named `GraphQL
//! DataLoader Batch {loader}`), each linked to the span of every load that joined it.

use clap::Args;

/// Where to export spans.
#[derive(Args)]
pub struct OtlpArgs {
    /// Export the request and batch spans over OTLP (HTTP/protobuf) to this collector, such as
    /// http://127.0.0.1:4318 (spans go to its /v1/traces). Needs the `otlp` cargo feature. Off by
    /// default: without it nothing is exported, whatever OTEL_* variables say.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
}

/// Exports until dropped; dropping it sends what is still buffered.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl OtlpArgs {
    /// Starts exporting, if an endpoint was given: installs the process's `tracing` subscriber.
    pub fn start(&self) -> Result<Telemetry, Box<dyn std::error::Error>> {
        let Some(endpoint) = &self.otlp_endpoint else {
            return Ok(Telemetry {
                #[cfg(feature = "otlp")]
                provider: None,
            });
        };
        #[cfg(feature = "otlp")]
        return exporting(endpoint);
        #[cfg(not(feature = "otlp"))]
        Err(format!(
            "--otlp-endpoint {endpoint}: this coalesce-demo was built without the `otlp` \
             feature; build it with `--features otlp`"
        )
        .into())
    }
}

#[cfg(feature = "otlp")]
fn exporting(endpoint: &str) -> Result<Telemetry, Box<dyn std::error::Error>> {
    use opentelemetry::trace::TracerProvider;
    use opentelemetry_otlp::WithExportConfig;
    use tracing_subscriber::layer::SubscriberExt;

    // The endpoint is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is; given to the
    // exporter, a URL is used as it is, so the signal's path is added here.
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces)
        .build()
        .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("coalesce-demo")
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("coalesce-demo"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    eprintln!("coalesce-demo: exporting spans over OTLP to {endpoint}");
    Ok(Telemetry {
        provider: Some(provider),
    })
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("coalesce-demo: warning: OTLP export failed: {error}");
        }
    }
}
