//! HL7's FHIR JSON Schema, restricted to the resources intake reads (`schemas/fhir/`),
//! compiled into the binary.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{json, Value};

const R4: &str = include_str!("../../../../schemas/fhir/r4.schema.json");
const R5: &str = include_str!("../../../../schemas/fhir/r5.schema.json");

/// The definitions a message is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Definition {
    Bundle,
    AdverseEvent,
    /// Any resource: those intake reads against their definitions, others by type name only.
    Resource,
}

/// The R4 validators (R4B's AdverseEvent, Practitioner, PractitionerRole, CareTeam, Location
/// and Organization are R4's).
pub fn r4(definition: Definition) -> &'static Validator {
    static VALIDATORS: OnceLock<[Validator; 3]> = OnceLock::new();
    &VALIDATORS.get_or_init(|| compile(R4))[definition as usize]
}

/// The R5 validators.
pub fn r5(definition: Definition) -> &'static Validator {
    static VALIDATORS: OnceLock<[Validator; 3]> = OnceLock::new();
    &VALIDATORS.get_or_init(|| compile(R5))[definition as usize]
}

/// One validator per [`Definition`], in its order, over one release's schema subset.
fn compile(source: &str) -> [Validator; 3] {
    let schema: Value =
        serde_json::from_str(source).expect("the FHIR schema compiled into the binary is JSON");
    let compile = |name: &str| {
        let root = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": format!("#/definitions/{name}"),
            "definitions": schema["definitions"],
        });
        jsonschema::draft7::options()
            .build(&root)
            .expect("the FHIR schema compiled into the binary is valid draft-07")
    };
    [
        compile("Bundle"),
        compile("AdverseEvent"),
        compile("ResourceList"),
    ]
}
