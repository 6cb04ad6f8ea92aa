package google

import (
	"context"
	"strconv"
	"strings"
	"time"

	datatransfer "google.golang.org/api/admin/datatransfer/v1"

	"github.com/tenure-io/tenure/integrations"
)

// deadlineMargin is how long before its context's deadline TransferData stops
// polling, so it can still report that the transfer is running.
const deadlineMargin = 3 * time.Second

// TransferData hands the user's Drive files, shared and private, to the user
// whose email is toUserName, and returns once Google reports the transfer
// completed. A transfer can take hours; when it is still running after the
// polling budget, TransferData returns a Transient error, and the retry finds the
// same transfer (transfers.list) and waits on it rather than starting another.
func (c *Client) TransferData(ctx context.Context, id, toUserName string) error {
	if strings.TrimSpace(toUserName) == "" {
		return c.permanent("transfer_data", "no new owner was given for the files")
	}
	owner, err := c.findByEmail(ctx, "transfer_data", toUserName)
	if err != nil {
		return err
	}
	if owner == nil {
		return c.permanent("transfer_data", "the new owner "+strconv.Quote(toUserName)+" has no Google Workspace account")
	}
	if owner.Id == id {
		return c.permanent("transfer_data", "the new owner "+strconv.Quote(toUserName)+" is the leaver")
	}
	app, err := c.driveApp(ctx)
	if err != nil {
		return err
	}
	t, err := c.runningTransfer(ctx, id, owner.Id, app)
	if err != nil {
		return err
	}
	if t == nil {
		t, err = c.xfer.Transfers.Insert(&datatransfer.DataTransfer{
			OldOwnerUserId: id,
			NewOwnerUserId: owner.Id,
			ApplicationDataTransfers: []*datatransfer.ApplicationDataTransfer{{
				ApplicationId: app,
				ApplicationTransferParams: []*datatransfer.ApplicationTransferParam{
					{Key: "PRIVACY_LEVEL", Value: []string{"PRIVATE", "SHARED"}},
				},
			}},
		}).Context(ctx).Do()
		if err != nil {
			return c.failure(ctx, "transfer_data", err)
		}
	}
	return c.await(ctx, t, owner.PrimaryEmail)
}

// await polls the transfer until Google says it completed or failed, or the
// polling budget (bounded by the context's deadline) is spent.
func (c *Client) await(ctx context.Context, t *datatransfer.DataTransfer, to string) error {
	deadline := time.Now().Add(c.pollFor)
	if d, ok := ctx.Deadline(); ok && d.Add(-deadlineMargin).Before(deadline) {
		deadline = d.Add(-deadlineMargin)
	}
	for {
		switch t.OverallTransferStatusCode {
		case transferCompleted:
			return nil
		case transferFailed:
			return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "transfer_data",
				Detail: "Google reports that data transfer " + t.Id + " to " + to + " failed; check it in the Admin console before deleting the user"}
		}
		if time.Now().Add(c.pollEvery).After(deadline) {
			return &integrations.Error{Kind: integrations.Transient, App: c.app, Op: "transfer_data",
				Detail: "data transfer " + t.Id + " to " + to + " is still " + statusText(t.OverallTransferStatusCode) + "; it will be checked again"}
		}
		timer := time.NewTimer(c.pollEvery)
		select {
		case <-ctx.Done():
			timer.Stop()
			return c.failure(ctx, "transfer_data", ctx.Err())
		case <-timer.C:
		}
		next, err := c.xfer.Transfers.Get(t.Id).Context(ctx).Do()
		if err != nil {
			return c.failure(ctx, "transfer_data", err)
		}
		t = next
	}
}

func statusText(s string) string {
	if s == "" {
		return "pending"
	}
	return s
}

// runningTransfer finds a Drive transfer between the two users that Google has
// not finished, so a retried TransferData waits on it instead of starting a
// second one.
func (c *Client) runningTransfer(ctx context.Context, from, to string, app int64) (*datatransfer.DataTransfer, error) {
	call := c.xfer.Transfers.List().OldOwnerUserId(from).NewOwnerUserId(to)
	if c.customer != DefaultCustomer {
		call = call.CustomerId(c.customer)
	}
	var found *datatransfer.DataTransfer
	err := call.Pages(ctx, func(page *datatransfer.DataTransfersListResponse) error {
		for _, t := range page.DataTransfers {
			if found != nil || (t.OverallTransferStatusCode != transferNew && t.OverallTransferStatusCode != transferInProgress) {
				continue
			}
			for _, a := range t.ApplicationDataTransfers {
				if a.ApplicationId == app {
					found = t
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, c.failure(ctx, "transfer_data", err)
	}
	return found, nil
}

// driveApp returns the Drive application's ID from applications.list, once.
func (c *Client) driveApp(ctx context.Context) (int64, error) {
	c.driveMu.Lock()
	defer c.driveMu.Unlock()
	if c.driveID != 0 {
		return c.driveID, nil
	}
	call := c.xfer.Applications.List()
	if c.customer != DefaultCustomer {
		call = call.CustomerId(c.customer)
	}
	err := call.Pages(ctx, func(page *datatransfer.ApplicationsListResponse) error {
		for _, a := range page.Applications {
			if c.driveID == 0 && strings.EqualFold(a.Name, driveApplication) {
				c.driveID = a.Id
			}
		}
		return nil
	})
	if err != nil {
		return 0, c.failure(ctx, "transfer_data", err)
	}
	if c.driveID == 0 {
		return 0, &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: "transfer_data",
			Detail: "the Data Transfer API offers no " + strconv.Quote(driveApplication) + " application for this customer"}
	}
	return c.driveID, nil
}

func (c *Client) permanent(op, detail string) error {
	return &integrations.Error{Kind: integrations.Permanent, App: c.app, Op: op, Detail: detail}
}
