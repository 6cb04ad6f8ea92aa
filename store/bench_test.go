package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/store"
	"github.com/tenure-io/tenure/store/storetest"
)

// backends runs a benchmark on each backend.
func backends(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.Postgres(b)) })
}

// BenchmarkUpsertAccount is the write an activity makes after each step.
func BenchmarkUpsertAccount(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		i := 0
		for b.Loop() {
			err := db.UpsertAccount(ctx, tenure.Account{
				EmployeeID: fmt.Sprint("e", i%1000), App: fmt.Sprint("app", i%10),
				Status: tenure.AccessActive, Entitlements: []string{"eng"},
			})
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkUpsertAccountParallel is many activities writing at once.
func BenchmarkUpsertAccountParallel(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				err := db.UpsertAccount(ctx, tenure.Account{
					EmployeeID: fmt.Sprint("e", i%1000), App: fmt.Sprint("app", i%10), Status: tenure.AccessActive,
				})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

// BenchmarkListEmployees pages and searches 10,000 people as the console does.
func BenchmarkListEmployees(b *testing.B) {
	backends(b, func(b *testing.B, db *store.DB) {
		seedPeople(b, db, 10_000)
		for _, f := range []tenure.EmployeeFilter{
			{Offset: 9_000},
			{Status: tenure.PersonActive, Offset: 2_000},
			{Q: "engineering"},
		} {
			b.Run(fmt.Sprintf("q=%s,status=%s,offset=%d", f.Q, f.Status, f.Offset), func(b *testing.B) {
				for b.Loop() {
					if _, _, err := db.ListEmployees(ctx, f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}

// BenchmarkAppendAuditConcurrent appends 10,000 records from 16 goroutines on
// PostgreSQL, as a busy deployment's activities do: every append takes the
// chain's lock, so this is the audit trail's ceiling. It reports appends/s.
func BenchmarkAppendAuditConcurrent(b *testing.B) {
	const records, writers = 10_000, 16
	for b.Loop() {
		b.StopTimer()
		db := storetest.Postgres(b)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := w; i < records; i += writers {
					r := tenure.AuditRecord{
						Key: fmt.Sprintf("E%d/ev%d/app%d/disable", i%1000, i, i%10), Actor: "tenure", Action: "account.disabled",
						EmployeeID: fmt.Sprint("E", i%1000), App: fmt.Sprint("app", i%10), Detail: "disabled and read back",
					}
					if err := db.AppendAudit(ctx, r); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		v, err := db.VerifyAudit(ctx, tenure.AuditHead{})
		if err != nil || v.Records != records {
			b.Fatalf("after the appends: %d records, %v", v.Records, err)
		}
		b.ReportMetric(records/elapsed.Seconds(), "appends/s")
		b.StartTimer()
	}
}
