//! Any bytes as an inbound record: a payload and a few headers (the first bytes say how many
//! and how long); the seeds include FHIR messages as bare records (content-type
//! application/fhir+json). Decoding must answer with a command or a rejection whose code names the
//! reason; a panic, or a rejection without a code, is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_intake::{decode, InboundRecord, Policies};

const HEADER_NAMES: [&str; 8] = [
    "content-type",
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "traceparent",
    "ce_datacontenttype",
];

fuzz_target!(|data: &[u8]| {
    let (mut rest, mut headers) = (data, Vec::new());
    if let Some((&count, tail)) = rest.split_first() {
        rest = tail;
        for _ in 0..count % 6 {
            let Some((&spec, tail)) = rest.split_first() else { break };
            let len = usize::from(spec >> 3).min(tail.len());
            let (value, tail) = tail.split_at(len);
            headers.push((
                HEADER_NAMES[usize::from(spec & 7)].to_string(),
                Some(value.to_vec()),
            ));
            rest = tail;
        }
    }
    let record = InboundRecord {
        topic: "incidents".into(),
        headers,
        payload: Some(rest.to_vec()),
        ..Default::default()
    };
    if let Err(rejection) = decode(&record, &Policies::default(), 64 * 1024, chrono::Utc::now()) {
        assert!(!rejection.code().is_empty());
    }
});
