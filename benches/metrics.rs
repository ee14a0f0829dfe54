//! What counting a request costs a worker (`scfgate::metrics`): recording one finished request
//! into its API's cells (a status class, two byte counters, two histograms), with and without
//! the clock reads the connection makes around it, and what a scrape of 1,000 APIs on 4 workers
//! costs the scraping thread.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use scfgate::metrics::exposition::Format;
use scfgate::metrics::worker::{ApiLabels, Finished, WorkerMetrics};
use scfgate::metrics::Registry;

fn record(c: &mut Criterion) {
    let worker = WorkerMetrics::new(0);
    let series = Arc::clone(&worker.unmatched);
    let mut group = c.benchmark_group("metrics_record");
    let finished = Finished {
        status: 200,
        request_bytes: 180,
        response_bytes: 620,
        duration: Duration::from_micros(350),
        function_duration: Some(Duration::from_micros(300)),
    };
    group.bench_function("one_request", |b| b.iter(|| series.record(black_box(&finished))));
    // As the connection does it: a clock read at the start, two around the function, one at
    // the end.
    group.bench_function("one_request_with_its_clock_reads", |b| {
        b.iter(|| {
            let started = Instant::now();
            let called = Instant::now();
            let function_duration = Some(called.elapsed());
            let finished = Finished { duration: started.elapsed(), function_duration, ..finished };
            series.record(black_box(&finished));
        })
    });
    group.finish();
    let _ = ApiLabels::unmatched();
}

fn scrape(c: &mut Criterion) {
    let mut text =
        String::from("[[function]]\nname = \"f\"\nruntime = \"remote\"\ninvoke_url = \"http://127.0.0.1:9/\"\n");
    text.push_str("[[service]]\nid = \"service-bench\"\nname = \"bench\"\n");
    for index in 0..1000 {
        text.push_str(&format!(
            "[[service.api]]\nname = \"api-{index}\"\npath = \"/api-{index}\"\nmethod = \"GET\"\nfunction = {{ name = \"f\" }}\n"
        ));
    }
    let config =
        scfgate::config::validate::parse_str(&text, std::path::Path::new("/tmp/bench.toml"), &Default::default())
            .expect("the bench's config is valid");
    let registry = Registry::new(4);
    for index in 0..4 {
        let series = registry.worker(index).api_series(&config);
        for one in series.iter().step_by(3) {
            one.record(&Finished {
                status: 200,
                request_bytes: 100,
                response_bytes: 200,
                duration: Duration::from_micros(400),
                function_duration: Some(Duration::from_micros(300)),
            });
        }
    }
    c.bench_function("metrics_scrape_1000_apis_4_workers", |b| {
        b.iter(|| black_box(registry.render(Format::Prometheus)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = record, scrape
}
criterion_main!(benches);
