//! A FHIR message as a graph: the AdverseEvent, the resources it contains, and the entries of
//! the Bundle it came in, with references resolved the way FHIR resolves them. Resources are
//! looked at as JSON and read into our types only once a reference leads to a type intake
//! reads; a Patient, a Condition or a Medication is never followed.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Rejection;

/// Where a resource sits, as a FHIR path (never a value): for reasons and for contained
/// references, which resolve within the resource that contains them.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    pub resource: &'a Value,
    /// The resource whose `contained` `#id` references resolve against.
    pub container: &'a Value,
}

pub struct Graph<'a> {
    /// Bundle entries by `fullUrl`, and by `Type/id` (the last two segments of a fullUrl, or
    /// the resource's own type and id).
    by_url: HashMap<&'a str, &'a Value>,
    by_type_id: HashMap<(&'a str, &'a str), &'a Value>,
    /// Whether `urn:` references must resolve here (they name entries of this Bundle).
    in_bundle: bool,
    entries: Vec<&'a Value>,
}

/// What a reference led to.
pub enum Target<'a> {
    Found(Located<'a>),
    /// A reference to a resource outside the message (on the source's server): nothing to read.
    Outside,
}

impl<'a> Graph<'a> {
    pub fn new(entries: &[(Option<&'a str>, &'a Value)], in_bundle: bool) -> Self {
        let mut by_url = HashMap::new();
        let mut by_type_id = HashMap::new();
        for (full_url, resource) in entries {
            if let Some(url) = full_url {
                by_url.entry(*url).or_insert(*resource);
                if let Some(key) = type_and_id(url) {
                    by_type_id.entry(key).or_insert(*resource);
                }
            }
            if let (Some(ty), Some(id)) = (
                resource.get("resourceType").and_then(Value::as_str),
                resource.get("id").and_then(Value::as_str),
            ) {
                by_type_id.entry((ty, id)).or_insert(*resource);
            }
        }
        Graph {
            by_url,
            by_type_id,
            in_bundle,
            entries: entries.iter().map(|(_, r)| *r).collect(),
        }
    }

    /// The PractitionerRole the message carries for a practitioner referenced directly (its
    /// work contact details and codes), if there is one: among the Bundle's entries, or the
    /// resources contained beside it.
    pub fn role_of(&self, practitioner: Located<'a>) -> Option<Located<'a>> {
        let contained = practitioner
            .container
            .get("contained")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .map(|r| (r, practitioner.container))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let entries = self.entries.iter().map(|r| (*r, *r));
        contained
            .into_iter()
            .chain(entries)
            .filter(|(r, _)| resource_type(r) == Some("PractitionerRole"))
            .take(1000)
            .find_map(|(role, container)| {
                let of = role.get("practitioner")?.get("reference")?.as_str()?;
                let located = Located {
                    resource: role,
                    container,
                };
                match self.resolve(of, located, "PractitionerRole.practitioner") {
                    Ok(Target::Found(p)) if std::ptr::eq(p.resource, practitioner.resource) => {
                        Some(located)
                    }
                    _ => None,
                }
            })
    }

    /// Resolves `reference` (from an element at `at`, a FHIR path) found in `from`. A contained
    /// (`#id`) or a Bundle-internal (`urn:uuid:`, `urn:oid:`) reference that leads nowhere is
    /// a broken message; a relative or absolute one may point at the source's server.
    pub fn resolve(
        &self,
        reference: &str,
        from: Located<'a>,
        at: &str,
    ) -> Result<Target<'a>, Rejection> {
        let unresolvable = || Rejection::UnresolvableReference(at.to_string());
        if let Some(id) = reference.strip_prefix('#') {
            return contained(from.container, id)
                .map(|resource| {
                    Target::Found(Located {
                        resource,
                        container: from.container,
                    })
                })
                .ok_or_else(unresolvable);
        }
        let found = |resource: &'a Value| {
            Target::Found(Located {
                resource,
                container: resource,
            })
        };
        if reference.starts_with("urn:") {
            return match self.by_url.get(reference) {
                Some(resource) => Ok(found(resource)),
                None if self.in_bundle => Err(unresolvable()),
                None => Ok(Target::Outside),
            };
        }
        let versionless = reference.split("/_history/").next().unwrap_or(reference);
        if let Some(resource) = self.by_url.get(versionless) {
            return Ok(found(resource));
        }
        Ok(
            match type_and_id(versionless).and_then(|k| self.by_type_id.get(&k)) {
                Some(resource) => found(resource),
                None => Target::Outside,
            },
        )
    }
}

/// `Type/id` from the end of a relative or absolute reference.
fn type_and_id(url: &str) -> Option<(&str, &str)> {
    let mut parts = url.rsplit('/');
    let id = parts.next()?;
    let ty = parts.next()?;
    (ty.chars().next()?.is_ascii_uppercase() && !id.is_empty()).then_some((ty, id))
}

fn contained<'a>(container: &'a Value, id: &str) -> Option<&'a Value> {
    container
        .get("contained")?
        .as_array()?
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
}

/// The resource type a reference names by its form (`Practitioner/123`), if it does.
pub fn referenced_type(reference: &str) -> Option<&str> {
    let versionless = reference.split("/_history/").next().unwrap_or(reference);
    type_and_id(versionless).map(|(ty, _)| ty)
}

pub fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("resourceType").and_then(Value::as_str)
}

/// Reads the elements intake uses from a resource. The schema has been checked (R4), so this
/// fails only on an R5 resource whose read elements have the wrong shape; the reason names
/// the path, never the value found there.
pub fn read<T: DeserializeOwned>(resource: &Value, at: &str) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(resource).map_err(|e| {
        Rejection::SchemaViolation(vec![format!(
            "{at}.{} does not have the shape FHIR gives it",
            e.path()
        )])
    })
}
