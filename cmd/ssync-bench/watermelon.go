package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ssync-go/ssync/interop/watermelondb"
)

// watermelonScenario times WatermelonDB apps' first sync of cfg.rows notes
// from the WatermelonDB front of a server on store st: the real
// @nozbe/watermelondb synchronize() in Node, on its LokiJS and SQLite
// adapters, normal and with sendCreatedAsUpdated (interop/watermelondb's
// bulk.js, which also asserts that neither adapter can do turbo login and
// times the turbo pull's request). The baseline is an ssync Go device's
// first sync of the same rows from the same server, in the same run.
func watermelonScenario(ctx context.Context, cfg config, st string) (result, error) {
	if _, err := watermelondb.Node(cfg.watermelonDir); err != nil {
		return result{}, fmt.Errorf("%w (or leave out -scenarios watermelon)", err)
	}
	srv, err := startServer(ctx, cfg, st, "watermelon")
	if err != nil {
		return result{}, err
	}
	defer srv.close()
	const user = "wm-user"
	if err := seed(ctx, srv.st, user, cfg.rows); err != nil {
		return result{}, err
	}
	dev, err := openDevice(ctx, filepath.Join(cfg.dir, "watermelon-go-device-"+st+".db"), user)
	if err != nil {
		return result{}, err
	}
	defer dev.Close()
	goTook, _, err := timeFirstSync(ctx, dev, nil, cfg.rows, syncOptions(srv.url, user))
	if err != nil {
		return result{}, fmt.Errorf("Go device: %w", err)
	}
	wm, err := watermelondb.TimeFirstSyncs(ctx, cfg.watermelonDir, srv.url+"/watermelon", user, cfg.rows)
	if err != nil {
		return result{}, err
	}
	base := goTook.Seconds()
	figs := map[string]float64{"go_seconds": base, "turbo_pull_request_seconds": float64(wm.TurboPullRequestMs) / 1000,
		"turbo_pull_mb": float64(wm.TurboPullBytes) / 1e6}
	for _, a := range watermelondb.Adapters {
		r := wm.Adapters[a]
		s := float64(r.Normal.Ms) / 1000
		figs[a+"_seconds"] = s
		figs[a+"_ratio"] = s / base
		figs[a+"_rows_per_s"] = float64(cfg.rows) / s
		figs[a+"_pull_request_seconds"] = float64(r.Normal.PullRequestMs) / 1000
		figs[a+"_created_as_updated_seconds"] = float64(r.CreatedAsUpdated.Ms) / 1000
		if r.Turbo != nil {
			figs[a+"_turbo_seconds"] = float64(r.Turbo.Ms) / 1000
		}
	}
	r := result{Scenario: "watermelon", Store: st, Rows: cfg.rows, Figures: figs, Baseline: base,
		Ratio: figs["sqlite_ratio"], Met: true,
		Target: "reported beside the Go device's first sync (ratio: SQLite adapter); turbo login: no Node adapter can (bulk.js)"}
	return r, nil
}
