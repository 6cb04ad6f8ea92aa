package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/activities"
	"github.com/tenure-io/tenure/guard"
	"github.com/tenure-io/tenure/intake"
	"github.com/tenure-io/tenure/integrations/hr"
	"github.com/tenure-io/tenure/workflows"
)

// minWebhookSecret is the shortest HR webhook secret Tenure accepts: an HMAC key
// is only as strong as it is long.
const minWebhookSecret = 16

// devHRSecrets returns the HR webhook secret of `tenure dev`: the flag's (or
// TENURE_HR_WEBHOOK_SECRET's), or else one generated into DIR/hr-webhook.secret.
func devHRSecrets(dataDir, flagValue string) ([]string, error) {
	if flagValue != "" {
		if len(flagValue) < minWebhookSecret {
			return nil, fmt.Errorf("--hr-webhook-secret must be at least %d characters", minWebhookSecret)
		}
		return []string{flagValue}, nil
	}
	s, err := secretFile(filepath.Join(dataDir, "hr-webhook.secret"))
	if err != nil {
		return nil, fmt.Errorf("HR webhook secret: %w", err)
	}
	return []string{s}, nil
}

// prodHRSecrets reads TENURE_HR_WEBHOOK_SECRETS: comma-separated, so that a new
// secret can be added before the old one is retired. Unset turns HR webhooks off.
func prodHRSecrets(getenv func(string) string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(getenv("TENURE_HR_WEBHOOK_SECRETS"), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(s) < minWebhookSecret {
			return nil, fmt.Errorf("TENURE_HR_WEBHOOK_SECRETS: each secret must be at least %d characters", minWebhookSecret)
		}
		out = append(out, s)
	}
	return out, nil
}

// workdayConfig is the Workday pull's configuration, from the environment.
type workdayConfig struct {
	url, username, password, caFile string
	interval                        time.Duration
}

// readWorkdayConfig reads TENURE_WORKDAY_*; ok is false when TENURE_WORKDAY_URL
// is unset, which turns the pull off.
func readWorkdayConfig(getenv func(string) string) (cfg workdayConfig, ok bool, err error) {
	cfg = workdayConfig{
		url:      getenv("TENURE_WORKDAY_URL"),
		username: getenv("TENURE_WORKDAY_USERNAME"),
		password: getenv("TENURE_WORKDAY_PASSWORD"),
		caFile:   getenv("TENURE_WORKDAY_CA_FILE"),
		interval: workflows.DefaultWorkdayInterval,
	}
	if cfg.url == "" {
		return cfg, false, nil
	}
	if v := getenv("TENURE_WORKDAY_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return cfg, false, fmt.Errorf("TENURE_WORKDAY_INTERVAL must be a duration of at least 1s, such as 15m; got %q", v)
		}
		cfg.interval = d
	}
	return cfg, true, nil
}

// startWorkday starts the Workday pull when TENURE_WORKDAY_URL is set: a worker on
// workflows.WorkdayTaskQueue that runs the sync activity with the credentials,
// and the schedule, created or updated to the interval. It returns a function
// that stops the worker. dev says this process is the whole deployment, so a
// schedule left from an earlier run with Workday configured is removed when it
// no longer is; in production another worker may hold the credentials. A sync
// in flight when the worker stops gets stopTimeout to finish.
func startWorkday(ctx context.Context, c client.Client, db tenure.Store, g *guard.Guard, getenv func(string) string, log *slog.Logger, dev bool, stopTimeout time.Duration) (func(), error) {
	cfg, ok, err := readWorkdayConfig(getenv)
	if err != nil {
		return nil, err
	}
	if !ok {
		if dev {
			err := c.ScheduleClient().GetHandle(ctx, workflows.WorkdayScheduleID).Delete(ctx)
			var nf *serviceerror.NotFound
			if err != nil && !errors.As(err, &nf) {
				log.Warn("removing the Workday schedule", "error", err)
			}
		}
		return func() {}, nil
	}
	report, err := hr.NewWorkdayClient(cfg.url, cfg.username, cfg.password, cfg.caFile)
	if err != nil {
		return nil, fmt.Errorf("the Workday settings: %s", tenure.ErrorMessage(err))
	}
	wd := &activities.Workday{
		Report: report,
		Store:  db,
		Intake: &intake.Intake{Store: db, Engine: &workflows.Engine{Client: c}},
		Guard:  g,
		Logger: log,
	}
	w := sdkworker.New(c, workflows.WorkdayTaskQueue, sdkworker.Options{MaxConcurrentActivityExecutionSize: 1, WorkerStopTimeout: stopTimeout})
	w.RegisterActivityWithOptions(wd.Sync, activity.RegisterOptions{Name: workflows.WorkdaySyncActivity})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("starting the Workday worker: %w", err)
	}
	if err := workflows.EnsureWorkdaySchedule(ctx, c, cfg.interval); err != nil {
		w.Stop()
		return nil, err
	}
	log.Info("Workday sync scheduled", "schedule_id", workflows.WorkdayScheduleID, "every", cfg.interval, "report", report.URL())
	return w.Stop, nil
}
