package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/marketplace/settle/io/warehouse"
	"github.com/marketplace/settle/pipeline/account"
)

// logKeyDetail is the attribute holding an account's failed equations.
const logKeyDetail = "detail"

// msgReconciliationFailed is the log line of a run whose account does not
// balance: the log-based alert matches it.
const msgReconciliationFailed = "reconciliation failed"

// phaseNames name account phases in logs and errors.
var phaseNames = map[account.Phase]string{account.Staged: "staging", account.Promoted: "promote"}

// checkAccount checks the run's account for phase and records the verdict
// in it. A run whose account does not balance fails: the error wraps
// account.ErrUnbalanced, and an ERROR line "reconciliation failed" names
// the equations that do not hold.
func checkAccount(opts Options, sum *Summary, phase account.Phase) error {
	err := account.Balance(&sum.Account, phase)
	if err == nil {
		return nil
	}
	opts.Logger.Error(msgReconciliationFailed, logKeyRun, sum.RunID, logKeyPhase, phaseNames[phase],
		logKeyDetail, sum.Account.Detail)
	return fmt.Errorf("checking the run's account after %s: %w", phaseNames[phase], err)
}

// startAccount begins the account of a run processing objects.
func startAccount(sum *Summary, objects int) {
	sum.Account = warehouse.RunAccount{
		RunID: sum.RunID, Kind: sum.Kind, PagesListed: int64(objects), PagesLanded: sum.PagesLanded,
	}
}

// stagedAccount records what Stage loaded and checks the account.
func stagedAccount(opts Options, sum *Summary, st warehouse.StageStats) error {
	sum.Account.StagedValid, sum.Account.StagedQuar = st.Validated, st.Quarantined
	sum.Account.QuarantinedByReason = maps.Clone(sum.QuarantinedBy)
	return checkAccount(opts, sum, account.Staged)
}

// promotedAccount records what Promote did (or that the batch was held),
// checks the account, and reads the run's currency totals when the
// warehouse keeps accounts.
func promotedAccount(ctx context.Context, opts Options, b *backends, sum *Summary, ps warehouse.PromoteStats, held bool) error {
	if held {
		account.HoldAll(&sum.Account)
	} else {
		account.ApplyPromote(&sum.Account, ps)
	}
	if err := checkAccount(opts, sum, account.Promoted); err != nil {
		return err
	}
	acc, ok := b.wh.(warehouse.Accounts)
	if !ok || held {
		return nil
	}
	totals, err := acc.RunTotals(ctx, sum.RunID)
	if err != nil {
		return fmt.Errorf("reading currency totals of run %s: %w", sum.RunID, err)
	}
	sum.CurrencyTotals = totals
	return nil
}

// recordAccount stores the run's account and currency totals beside the
// runs ledger, when the warehouse keeps accounts and the run got as far as
// processing.
func recordAccount(ctx context.Context, b *backends, opts Options, sum *Summary) error {
	acc, ok := b.wh.(warehouse.Accounts)
	if !ok || sum.Account.RunID == "" {
		return nil
	}
	sum.Account.RecordedAt = opts.Now().UTC()
	if err := acc.RecordAccount(ctx, sum.Account, sum.CurrencyTotals); err != nil {
		return fmt.Errorf("recording the account of run %s: %w", sum.RunID, err)
	}
	return nil
}

// promoteHeldAccount moves a held run's account from Held to what the
// operator's promote did, checks it and stores it with the run's currency
// totals. A run without a stored account (held before accounts existed)
// is left alone.
func promoteHeldAccount(ctx context.Context, opts Options, b *backends, runID string, ps warehouse.PromoteStats) error {
	acc, ok := b.wh.(warehouse.Accounts)
	if !ok {
		return nil
	}
	a, _, err := acc.Account(ctx, runID)
	if errors.Is(err, warehouse.ErrNoAccount) {
		return nil
	}
	if err != nil {
		return err
	}
	sum := Summary{RunID: runID, Account: a}
	if err := promotedAccount(ctx, opts, b, &sum, ps, false); err != nil {
		_ = recordAccount(context.WithoutCancel(ctx), b, opts, &sum)
		return err
	}
	return recordAccount(ctx, b, opts, &sum)
}
