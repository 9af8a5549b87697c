package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/store"
)

// RecordPolicy appends the policy p, compiled from routes, to the policy
// stream: its source, digest (p.Hash), load time and routes. A load that
// changes nothing — the last version has the same digest and source — is
// not appended again, so that restarts and no-op reloads do not bury the
// versions that matter; added reports whether a version was appended.
// The returned version is the one in force after the call.
func RecordPolicy(ctx context.Context, st Updater, p *policy.Policy, routes []config.Route) (v store.PolicyVersion, added bool, err error) {
	if routes == nil {
		routes = []config.Route{}
	}
	doc, err := json.Marshal(routes)
	if err != nil {
		return store.PolicyVersion{}, false, fmt.Errorf("record policy: %w", err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		added = false
		last, err := lastPolicyVersion(ctx, tx)
		if err != nil {
			return err
		}
		if last != nil && last.Digest == p.Hash && last.Source == p.Source {
			v = *last
			return nil
		}
		v = store.PolicyVersion{At: p.Loaded.UTC(), Source: p.Source, Digest: p.Hash, Doc: doc}
		added = true
		return tx.AppendPolicyVersion(ctx, &v)
	})
	if err != nil {
		return store.PolicyVersion{}, false, fmt.Errorf("record policy: %w", err)
	}
	return v, added, nil
}

// lastPolicyVersion returns the version appended last, nil when none.
func lastPolicyVersion(ctx context.Context, tx store.ReadTx) (*store.PolicyVersion, error) {
	n, err := tx.SeqCounter(ctx, store.StreamPolicies)
	if err != nil || n == 0 {
		return nil, err
	}
	vs, err := tx.PolicyVersions(ctx, n-1, 1)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return &vs[0], nil
}
