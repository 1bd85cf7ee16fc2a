//! `gaia costs` and `gaia budget`.

use gaia::{Budget, BudgetPeriod, CostGroup, CostQuery, Error, Money, Result, Timestamp};

use super::Context;
use crate::args::{BudgetArgs, BudgetCommand, CostsArgs, GroupArg, PeriodArg};
use crate::output::Output;

pub async fn run_costs(context: &Context, args: CostsArgs, out: &Output) -> Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|s| {
            Timestamp::parse_rfc3339(s)
                .ok_or_else(|| Error::invalid("--since", format!("{s:?} is not an RFC 3339 time")))
        })
        .transpose()?;
    let query = CostQuery {
        client_id: (!args.all_clients).then(|| context.client.clone()),
        campaign_id: args.campaign,
        since,
        until: None,
        group_by: match args.group_by {
            GroupArg::None => CostGroup::None,
            GroupArg::Client => CostGroup::Client,
            GroupArg::Campaign => CostGroup::Campaign,
            GroupArg::Provider => CostGroup::Provider,
            GroupArg::Model => CostGroup::Model,
            GroupArg::Day => CostGroup::Day,
        },
    };
    let engine = context.open(0).await?;
    let report = engine.costs(&query).await;
    engine.close().await?;
    out.costs(&report?);
    Ok(())
}

pub async fn run_budget(context: &Context, args: BudgetArgs, out: &Output) -> Result<()> {
    let engine = context.open(0).await?;
    let result = match args.command {
        BudgetCommand::Set {
            limit_micros,
            period,
            campaign,
        } => {
            let budget = Budget {
                client_id: context.client.clone(),
                campaign_id: campaign,
                period: match period {
                    PeriodArg::Total => BudgetPeriod::Total,
                    PeriodArg::Day => BudgetPeriod::Day,
                    PeriodArg::Month => BudgetPeriod::Month,
                },
                limit_micros: Money::from_micros(limit_micros),
            };
            engine
                .set_budget(&budget)
                .await
                .map(|()| out.budgets(&[budget]))
        }
        BudgetCommand::List => engine
            .budgets(&context.client)
            .await
            .map(|b| out.budgets(&b)),
    };
    engine.close().await?;
    result
}
