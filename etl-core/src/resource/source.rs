//! Sources (dlt's `@dlt.source`): named groups of resources, and the parents a source keeps for
//! its transformers.

use super::*;
use crate::error::SourceError;

/// A named group of resources (dlt's `@dlt.source`). Its name is the schema name.
#[derive(Debug)]
pub struct Source {
    name: String,
    max_table_nesting: Option<u32>,
    schema_contract: Option<crate::hints::SchemaContract>,
    root_key: bool,
    resources: Vec<Resource>,
    /// Parents of transformers that are not resources of the source themselves: extracted to
    /// feed their transformers, never loaded.
    parents: Vec<Resource>,
    /// Why the source could not be built ([`Source::failed`]).
    error: Option<BoxError>,
}

impl Source {
    /// A source with no resources.
    pub fn new(name: impl Into<String>) -> Self {
        Source {
            name: name.into(),
            max_table_nesting: None,
            schema_contract: None,
            root_key: false,
            resources: Vec::new(),
            parents: Vec::new(),
            error: None,
        }
    }

    /// A source that could not be built (e.g. its `#[config]` values are missing): it has no
    /// resources, and a pipeline that is given it fails with `error` before anything runs.
    pub fn failed(name: impl Into<String>, error: impl Into<BoxError>) -> Self {
        Source { error: Some(error.into()), ..Source::new(name) }
    }

    /// Why the source could not be built, if it could not ([`Source::failed`]).
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.error.as_deref()
    }

    /// Takes out why the source could not be built.
    pub fn take_error(&mut self) -> Option<BoxError> {
        self.error.take()
    }

    /// A source from resources; resource names must be unique.
    pub fn with(name: impl Into<String>, resources: impl IntoResources) -> Result<Self, SourceError> {
        let mut source = Source::new(name);
        for r in resources.into_resources() {
            source.add(r)?;
        }
        Ok(source)
    }

    /// Adds a resource. A transformer's parent goes to the source too, as dlt's pipe graph
    /// has it: one parent of a name per source, extracted once per run for all its
    /// transformers. A parent that is also a resource of the source is that resource (loaded if
    /// selected); one that is not is extracted only to feed its transformers.
    pub fn add(&mut self, mut resource: Resource) -> Result<(), SourceError> {
        if self.resources.iter().any(|r| r.name() == resource.name()) {
            return Err(SourceError::DuplicateResource { source_name: self.name.clone(), name: resource.name().to_owned() });
        }
        if let Some(parent) = resource.take_parent() {
            self.add_parent(parent);
        }
        // A resource of the source that was, until now, only some transformer's parent.
        self.parents.retain(|p| p.name() != resource.name());
        self.resources.push(resource);
        Ok(())
    }

    fn add_parent(&mut self, mut parent: Resource) {
        let name = parent.name();
        if self.resources.iter().chain(&self.parents).any(|r| r.name() == name) {
            // The source has it already (the same resource, built once more by `data_from`).
            return;
        }
        if let Some(grandparent) = parent.take_parent() {
            self.add_parent(grandparent);
        }
        self.parents.push(parent);
    }

    /// Parents of transformers that are not resources of the source (extracted, never loaded).
    pub fn transformer_parents(&self) -> &[Resource] {
        &self.parents
    }

    /// Takes the resources and the transformers' parents out (the pipeline runs them).
    pub fn into_pipes(self) -> (Vec<Resource>, Vec<Resource>) {
        (self.resources, self.parents)
    }

    /// Source name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets `max_table_nesting` for every resource without its own.
    pub fn with_max_table_nesting(mut self, depth: u32) -> Self {
        self.max_table_nesting = Some(depth);
        self
    }

    /// Sets the schema contract for every resource without its own.
    pub fn with_schema_contract(mut self, contract: crate::hints::SchemaContract) -> Self {
        self.schema_contract = Some(contract);
        self
    }

    /// Adds `_dlt_root_id` (the root row's `_dlt_id`) to every nested row of every resource, not
    /// only for merge (dlt's `root_key=True`).
    pub fn with_root_key(mut self, root_key: bool) -> Self {
        self.root_key = root_key;
        self
    }

    /// Whether nested rows carry `_dlt_root_id`.
    pub fn root_key(&self) -> bool {
        self.root_key
    }

    /// The source's schema contract.
    pub fn schema_contract(&self) -> Option<crate::hints::SchemaContract> {
        self.schema_contract
    }

    /// The source's `max_table_nesting`.
    pub fn max_table_nesting(&self) -> Option<u32> {
        self.max_table_nesting
    }

    /// All resources, to change their hints (an orchestrator setting a partition's window).
    pub fn resources_mut(&mut self) -> &mut [Resource] {
        &mut self.resources
    }

    /// All resources, selected or not.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// A resource by name.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name() == name)
    }

    /// The resources that run when the source runs.
    pub fn selected_resources(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(|r| r.is_selected())
    }

    /// Selects exactly the named resources (dlt's `with_resources`); unknown names are an error
    /// that lists the resources the source has.
    pub fn with_resources<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self, SourceError> {
        if self.error.is_some() {
            return Ok(self); // It has no resources; its own error is reported when it runs.
        }
        let missing: Vec<String> =
            names.iter().map(AsRef::as_ref).filter(|n| self.resource(n).is_none()).map(str::to_owned).collect();
        if !missing.is_empty() {
            return Err(SourceError::UnknownResources {
                source_name: self.name.clone(),
                missing,
                available: self.resources.iter().map(|r| r.name().to_owned()).collect(),
            });
        }
        for r in &mut self.resources {
            r.hints.selected = names.iter().any(|n| n.as_ref() == r.hints.name);
        }
        Ok(self)
    }

    /// Takes the resources out; a transformer gets back the parent the source kept for it.
    pub fn into_resources(self) -> Vec<Resource> {
        IntoResources::into_resources(self)
    }
}

/// What a `#[etl::source]` function may return: one resource, a tuple or a `Vec` of them.
pub trait IntoResources {
    /// The resources, in order.
    fn into_resources(self) -> Vec<Resource>;
}

impl IntoResources for Resource {
    fn into_resources(self) -> Vec<Resource> {
        vec![self]
    }
}

impl IntoResources for Vec<Resource> {
    fn into_resources(self) -> Vec<Resource> {
        self
    }
}

impl<const N: usize> IntoResources for [Resource; N] {
    fn into_resources(self) -> Vec<Resource> {
        self.into_iter().collect()
    }
}

// Tuples of resources: `(users(), orders())`.
macro_rules! tuples {
    ($($n:literal: $($t:ident)+;)+) => {$(
        impl<$($t),+> IntoResources for ($($t,)+) where $($t: Into<Resource>,)+ {
            #[allow(non_snake_case)]
            fn into_resources(self) -> Vec<Resource> {
                let ($($t,)+) = self;
                vec![$($t.into()),+]
            }
        }
    )+};
}
tuples!(
    1: A;
    2: A B;
    3: A B C;
    4: A B C D;
    5: A B C D E;
    6: A B C D E F;
    7: A B C D E F G;
    8: A B C D E F G H;
    9: A B C D E F G H I;
    10: A B C D E F G H I J;
    11: A B C D E F G H I J K;
    12: A B C D E F G H I J K L;
);


impl IntoResources for Source {
    /// The resources, each transformer with its parent again (so that a source made of them
    /// extracts each parent once, as this one does). Parents were kept in the order they were
    /// met, a grandparent before its child: they go back newest first, each into the first
    /// transformer (or parent already given back) that waits for it.
    fn into_resources(self) -> Vec<Resource> {
        let Source { mut resources, parents, .. } = self;
        for p in parents.into_iter().rev() {
            let mut p = Some(p);
            for r in &mut resources {
                p = give_parent(r, p.take().expect("not yet given"));
                if p.is_none() {
                    break;
                }
            }
        }
        resources
    }
}

/// Gives `parent` to the first transformer in `r`'s chain that waits for a parent of its name;
/// returns it if none does.
fn give_parent(r: &mut Resource, parent: Resource) -> Option<Resource> {
    match &mut r.producer {
        Some(Producer::Transform { parent: slot @ None, parent_name, .. }) if *parent_name == parent.name() => {
            *slot = Some(Box::new(parent));
            None
        }
        Some(Producer::Transform { parent: Some(inner), .. }) => give_parent(inner, parent),
        _ => Some(parent),
    }
}

/// Builds the source a `#[etl::source]` function returns. Two resources with one name are a
/// programming error and panic with both names.
pub fn make_source(name: &str, resources: Vec<Resource>, configure: impl FnOnce(Source) -> Source) -> Source {
    match Source::with(name, resources) {
        Ok(source) => configure(source),
        Err(e) => panic!("{e}"),
    }
}
