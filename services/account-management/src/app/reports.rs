//! What is computed on demand: an account's health and its customer's lifetime value. The
//! payment standing is read from contracts-and-payments first, outside any transaction; when it
//! cannot be read, both still answer, saying so.

use closeloop_kit::{Principal, Problem};

use super::App;
use crate::domain::access::Action;
use crate::domain::health::{AccountHealth, HealthInputs, PaymentData, compute_health};
use crate::domain::lifetime_value::{
    LifetimeValue, annual_churn_rate, churn_counts, lifetime_value,
};
use crate::domain::vocabulary::AccountId;
use crate::peers;

impl App {
    async fn payment_data(
        &self,
        account_id: &str,
        currency: closeloop_kit::types::CurrencyCode,
    ) -> PaymentData {
        match &self.payments {
            Some(p) => {
                p.standing(account_id, currency, self.clock.now_micros())
                    .await
            }
            None => peers::not_configured(),
        }
    }

    /// GetAccountHealth: the account's health now.
    ///
    /// # Errors
    /// PERMISSION_DENIED for a role that may not read health; NOT_FOUND when the account does
    /// not exist or the caller may not read it; database errors. Never for payment data.
    pub async fn account_health(
        &self,
        principal: &Principal,
        id: &AccountId,
    ) -> Result<AccountHealth, Problem> {
        let account = self
            .read_account(principal, Action::GetAccountHealth, id)
            .await?;
        let payment = self
            .payment_data(&account.customer.account_id, account.currency)
            .await;
        let window = u32::try_from(self.policy.satisfaction_window.max(1)).unwrap_or(1);
        let recent = self.store.list_check_ins(&account.id, None, window).await?;
        let open_issues = self.store.open_issues(&account.id).await?;
        let inputs = HealthInputs {
            recent_check_ins: &recent,
            open_issues: &open_issues,
            payment: &payment,
        };
        Ok(compute_health(
            &account,
            inputs,
            &self.policy,
            self.clock.now_micros(),
        ))
    }

    /// GetCustomerLifetimeValue: the customer's lifetime value now, with the portfolio's churn
    /// rate over the trailing 12 months.
    ///
    /// # Errors
    /// As [`App::account_health`].
    pub async fn customer_lifetime_value(
        &self,
        principal: &Principal,
        id: &AccountId,
    ) -> Result<LifetimeValue, Problem> {
        let account = self
            .read_account(principal, Action::GetCustomerLifetimeValue, id)
            .await?;
        let today = self.clock.today();
        let portfolio = self.store.all_accounts().await?;
        let churn = annual_churn_rate(churn_counts(portfolio.iter(), today), &self.policy);
        let payment = self
            .payment_data(&account.customer.account_id, account.currency)
            .await;
        Ok(lifetime_value(
            &account,
            &payment,
            churn,
            &self.policy,
            self.clock.now_micros(),
        ))
    }

    /// GetPortfolioMetrics over the accounts of `managers` (empty: all).
    ///
    /// # Errors
    /// INVALID_ARGUMENT `period.end_date` when reversed; database errors.
    pub async fn portfolio(
        &self,
        managers: &[String],
        first: time::Date,
        last: time::Date,
        currency: closeloop_kit::types::CurrencyCode,
    ) -> Result<crate::domain::portfolio::PortfolioMetrics, Problem> {
        let accounts = self.store.all_accounts().await?;
        crate::domain::portfolio::portfolio_metrics(
            accounts
                .iter()
                .filter(|a| managers.is_empty() || managers.contains(&a.account_manager)),
            managers,
            first,
            last,
            currency,
        )
    }
}
