//! Routing: which providers and models may serve a request, in order.

use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::money::Money;
use crate::provider::{ModelInfo, Provider};
use crate::request::{Request, Route, RouteTarget, Spec};

/// One provider and model that can serve a request.
#[derive(Clone)]
pub(crate) struct Candidate {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) model: String,
}

/// A provider as `gaia providers` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderInfo {
    /// Its name.
    pub name: String,
    /// Whether it calls a remote service.
    pub remote: bool,
    /// Its models and prices.
    pub models: Vec<ModelInfo>,
}

/// The configured providers, in registration order.
#[derive(Default, Clone)]
pub(crate) struct Router {
    providers: Vec<Arc<dyn Provider>>,
}

impl Router {
    pub(crate) fn new(providers: Vec<Arc<dyn Provider>>) -> Self {
        Self { providers }
    }

    pub(crate) fn providers(&self) -> &[Arc<dyn Provider>] {
        &self.providers
    }

    /// Whether every provider prices a request without waiting: routing a
    /// request runs the estimate of every capable one.
    pub(crate) fn estimates_instantly(&self) -> bool {
        self.providers.iter().all(|p| p.estimates_instantly())
    }

    /// Whether any provider limits its calls in flight.
    pub(crate) fn limits_calls(&self) -> bool {
        self.providers.iter().any(|p| p.max_in_flight().is_some())
    }

    pub(crate) fn describe(&self) -> Vec<ProviderInfo> {
        self.providers
            .iter()
            .map(|p| ProviderInfo {
                name: p.name().to_owned(),
                remote: p.is_remote(),
                models: p.models().to_vec(),
            })
            .collect()
    }

    /// The candidates for a request, in the order they are tried. Errors are
    /// what a host should see at submit: a bad route is `invalid_request`
    /// naming `route`; nothing able to make the kind is `no_provider`.
    pub(crate) fn candidates(&self, request: &Request) -> Result<Vec<Candidate>> {
        match &request.route {
            Route::Auto => self.automatic(&request.spec),
            Route::Target(_) | Route::Chain(_) => request
                .route
                .targets()
                .iter()
                .map(|target| self.named(target, &request.spec))
                .collect(),
        }
    }

    /// DESIGN's rule: the cheapest capable remote provider first, then the
    /// others in price order; local providers only when no remote one can.
    fn automatic(&self, spec: &Spec) -> Result<Vec<Candidate>> {
        let capable: Vec<(Candidate, Money)> = self
            .providers
            .iter()
            .flat_map(|provider| {
                provider
                    .models()
                    .iter()
                    .filter(|m| m.serves(spec))
                    .filter(|m| provider.validate(&m.id, spec).is_ok())
                    .filter_map(|m| {
                        let price = provider.estimate(&m.id, spec).ok()?;
                        Some((
                            Candidate {
                                provider: provider.clone(),
                                model: m.id.clone(),
                            },
                            price,
                        ))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let any_remote = capable.iter().any(|(c, _)| c.provider.is_remote());
        let mut chosen: Vec<(Candidate, Money)> = capable
            .into_iter()
            .filter(|(c, _)| c.provider.is_remote() == any_remote)
            .collect();
        // A stable sort keeps registration order among equal prices.
        chosen.sort_by_key(|(_, price)| *price);
        if chosen.is_empty() {
            return Err(Error::NoProvider(self.no_provider_reason(spec)));
        }
        Ok(chosen.into_iter().map(|(c, _)| c).collect())
    }

    fn no_provider_reason(&self, spec: &Spec) -> String {
        let wanted = what(spec);
        let offered = self
            .providers
            .iter()
            .any(|p| p.models().iter().any(|m| m.serves(spec)));
        if offered {
            format!("{wanted} with these parameters (no configured model accepts them)")
        } else {
            format!("{wanted}: no configured provider offers that")
        }
    }

    fn named(&self, target: &RouteTarget, spec: &Spec) -> Result<Candidate> {
        let provider = self
            .providers
            .iter()
            .find(|p| p.name() == target.provider)
            .ok_or_else(|| {
                Error::invalid(
                    "route",
                    format!(
                        "unknown provider {:?} (configured: {})",
                        target.provider,
                        self.names().join(", ")
                    ),
                )
            })?;
        let model = match &target.model {
            Some(id) => Self::named_model(provider.as_ref(), id, spec)?,
            None => provider
                .models()
                .iter()
                .find(|m| m.serves(spec))
                .cloned()
                .ok_or_else(|| {
                    Error::invalid(
                        "route",
                        format!("provider {:?} cannot make {}", target.provider, what(spec)),
                    )
                })?,
        };
        provider.validate(&model.id, spec)?;
        Ok(Candidate {
            provider: provider.clone(),
            model: model.id.clone(),
        })
    }

    /// A model the route names: one the provider declares, or one it can
    /// run on demand (`open_model`).
    fn named_model(provider: &dyn Provider, id: &str, spec: &Spec) -> Result<ModelInfo> {
        let declared = provider.models().iter().find(|m| m.id == id).cloned();
        let Some(model) = declared.or_else(|| provider.open_model(id, spec.kind())) else {
            return Err(Error::invalid(
                "route",
                format!("provider {:?} has no model {id:?}", provider.name()),
            ));
        };
        if !model.serves(spec) {
            return Err(Error::invalid(
                "route",
                format!("model {id:?} makes {}, not {}", offer(&model), what(spec)),
            ));
        }
        Ok(model)
    }

    fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }
}

/// What a spec asks for, in errors: `image`, or `edit (image)` for a derivation.
fn what(spec: &Spec) -> String {
    match spec {
        Spec::Derive(derive) => format!("{} ({})", derive.operation.name(), spec.kind()),
        _ => spec.kind().to_string(),
    }
}

/// What a model offers, in errors.
fn offer(model: &ModelInfo) -> String {
    match &model.operation {
        Some(operation) => format!("{operation} ({})", model.kind),
        None => model.kind.to_string(),
    }
}
