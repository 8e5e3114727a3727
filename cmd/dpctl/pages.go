package main

import "context"

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
