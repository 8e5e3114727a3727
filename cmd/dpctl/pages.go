package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// pages fetches the page at token start and, with all, every page after
// it, each call with its own deadline so that a long listing is not cut
// short. fetch gathers a page and returns the next token; pages returns
// the token after the last page fetched ("" at the end).
func pages(ctx context.Context, e *env, start string, all bool, fetch func(ctx context.Context, token string) (string, error)) (string, error) {
	token := start
	for {
		callCtx, cancel := unaryCtx(ctx, e)
		next, err := fetch(callCtx, token)
		cancel()
		if err != nil {
			return "", err
		}
		if !all || next == "" {
			return next, nil
		}
		token = next
	}
}

// listing connects, gathers a listing from the page at token start on
// (every page with all) with fetch, which appends to list, and writes
// list: as JSON, or with print and a word on stderr when more pages
// follow. next is list's next-page-token field.
func listing[L proto.Message](ctx context.Context, e *env, start string, all bool, list L, next *string,
	fetch func(ctx context.Context, conn *grpc.ClientConn, token string) (string, error),
	print func(io.Writer, L) error, noun string,
) error {
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	*next, err = pages(ctx, e, start, all, func(ctx context.Context, token string) (string, error) {
		return fetch(ctx, conn, token)
	})
	if err != nil {
		return err
	}
	if e.output == formatJSON {
		return writeProto(e.stdout, list)
	}
	if err := print(e.stdout, list); err != nil {
		return err
	}
	if *next != "" {
		fmt.Fprintf(e.stderr, "more %s follow: use --all, or --page-token %s\n", noun, *next)
	}
	return nil
}
