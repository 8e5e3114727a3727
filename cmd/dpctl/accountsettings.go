package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// accountSettings are what an admin sets of an account, as YAML: what
// "account export" writes and "account import" reads, so that an
// environment can be made again.
type accountSettings struct {
	ID          string   `yaml:"id"`
	DisplayName string   `yaml:"display_name,omitempty"`
	AdminEmails []string `yaml:"admin_emails,omitempty"`
	// PolicyOverrides are the API's PolicyOverrides, field for field.
	PolicyOverrides map[string]any `yaml:"policy_overrides,omitempty"`
	// BulkPolicy is whether the bulk policy applies: on or off.
	BulkPolicy        string `yaml:"bulk_policy"`
	MaxSendsPerDay    uint64 `yaml:"max_sends_per_day"`
	MaxSendsPerSecond uint32 `yaml:"max_sends_per_second"`
}

// settingsFile is the YAML document: a list of accounts.
type settingsFile struct {
	Accounts []accountSettings `yaml:"accounts"`
}

var protoNames = protojson.MarshalOptions{UseProtoNames: true}

// runAccountExport writes the settings of the accounts named, or of every
// account, as YAML.
func runAccountExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account export", "[ID...]")
	ids, err := fs.parseN(args, 0, 1<<20)
	if err != nil {
		return err
	}
	client, closeConn, err := accountClient(e)
	if err != nil {
		return err
	}
	defer closeConn()
	var accounts []*dpmonv1.Account
	if len(ids) == 0 {
		for token := ""; ; {
			cctx, cancel := context.WithTimeout(ctx, e.timeout)
			page, err := client.ListAccounts(cctx, &dpmonv1.ListAccountsRequest{PageSize: 1000, PageToken: token})
			cancel()
			if err != nil {
				return err
			}
			accounts = append(accounts, page.GetAccounts()...)
			if token = page.GetNextPageToken(); token == "" {
				break
			}
		}
	}
	for _, id := range ids {
		cctx, cancel := context.WithTimeout(ctx, e.timeout)
		got, err := client.GetAccount(cctx, &dpmonv1.GetAccountRequest{AccountId: id})
		cancel()
		if err != nil {
			return err
		}
		accounts = append(accounts, got.GetAccount())
	}
	var out settingsFile
	for _, a := range accounts {
		s := accountSettings{ID: a.GetAccountId(), DisplayName: a.GetDisplayName(), AdminEmails: a.GetAdminEmails(), BulkPolicy: "off",
			MaxSendsPerDay: a.GetQuota().GetMaxSendsPerDay(), MaxSendsPerSecond: a.GetQuota().GetMaxSendsPerSecond()}
		if a.GetBulkPolicy().GetEnabled() {
			s.BulkPolicy = "on"
		}
		if o := a.GetPolicyOverrides(); o != nil && proto.Size(o) > 0 {
			b, err := protoNames.Marshal(o)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &s.PolicyOverrides); err != nil {
				return err
			}
		}
		out.Accounts = append(out.Accounts, s)
	}
	enc := yaml.NewEncoder(e.stdout)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return err
	}
	return enc.Close()
}

// runAccountImport sets every account of a YAML file as it says,
// creating those that do not exist: what export wrote, made again.
func runAccountImport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account import", "FILE")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(operands[0])
	if err != nil {
		return err
	}
	var in settingsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("account import %s: %w", operands[0], err)
	}
	client, closeConn, err := accountClient(e)
	if err != nil {
		return err
	}
	defer closeConn()
	for i, s := range in.Accounts {
		req := &dpmonv1.UpdateAccountRequest{AccountId: s.ID, DisplayName: s.DisplayName, AdminEmails: s.AdminEmails,
			PolicyOverrides: &dpmonv1.PolicyOverrides{}, MaxSendsPerDay: &s.MaxSendsPerDay, MaxSendsPerSecond: &s.MaxSendsPerSecond,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "admin_emails", "policy_overrides", "max_sends_per_day", "max_sends_per_second", "bulk_policy_enabled"}}}
		switch s.BulkPolicy {
		case "on", "off":
			req.BulkPolicyEnabled = proto.Bool(s.BulkPolicy == "on")
		default:
			return fmt.Errorf("account import: accounts[%d] (%s): bulk_policy must be on or off, got %q", i, s.ID, s.BulkPolicy)
		}
		if len(s.PolicyOverrides) > 0 {
			b, err := json.Marshal(s.PolicyOverrides)
			if err != nil {
				return err
			}
			if err := protojson.Unmarshal(b, req.PolicyOverrides); err != nil {
				return fmt.Errorf("account import: accounts[%d] (%s): policy_overrides: %w", i, s.ID, err)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, e.timeout)
		_, err := client.UpdateAccount(cctx, req)
		cancel()
		if err != nil {
			return fmt.Errorf("account import: accounts[%d] (%s): %w", i, s.ID, err)
		}
	}
	_, err = fmt.Fprintf(e.stdout, "imported the settings of %d accounts\n", len(in.Accounts))
	return err
}
