package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/dpmon/dpmon/intake"
)

// mailMessage is one message read from a file, a Maildir or an mbox, with
// the name that points at it in what dpctl prints.
type mailMessage struct {
	name string
	data []byte
}

// mailbox yields the messages of the operands of "dpctl ingest-mail", one
// at a time: a file holds one message, or an mbox (it begins with a
// "From " line); a directory is a Maildir (its new/ and cur/) or else a
// directory of message files. Without operands it reads stdin, a message
// or an mbox.
type mailbox struct {
	stdin   io.Reader // nil once read, or when operands are given
	pending []string  // operands and files not read yet
	// The input being read: an mbox's scanner, or one message.
	name   string
	mbox   *mboxReader
	single []byte
}

func newMailbox(operands []string, stdin io.Reader) *mailbox {
	m := &mailbox{pending: slices.Clone(operands)}
	if len(operands) == 0 {
		m.stdin = stdin
	}
	return m
}

// next returns the next message, or io.EOF after the last.
func (m *mailbox) next() (mailMessage, error) {
	for {
		switch {
		case m.single != nil:
			msg := mailMessage{name: m.name, data: m.single}
			m.single = nil
			return msg, nil
		case m.mbox != nil:
			data, err := m.mbox.next()
			if err == nil {
				return mailMessage{name: fmt.Sprintf("%s#%d", m.name, m.mbox.n), data: data}, nil
			}
			m.mbox = nil
			if !errors.Is(err, io.EOF) {
				return mailMessage{}, fmt.Errorf("%s: %w", m.name, err)
			}
		case m.stdin != nil:
			in := m.stdin
			m.stdin = nil
			if err := m.open("stdin", in); err != nil {
				return mailMessage{}, err
			}
		case len(m.pending) > 0:
			path := m.pending[0]
			m.pending = m.pending[1:]
			if err := m.openPath(path); err != nil {
				return mailMessage{}, err
			}
		default:
			return mailMessage{}, io.EOF
		}
	}
}

// openPath opens a file, or queues the messages of a directory.
func (m *mailbox) openPath(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() {
		files, err := messageFiles(path)
		if err != nil {
			return err
		}
		m.pending = append(files, m.pending...)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return m.open(path, f)
}

// maxInputBytes bounds one input file or stdin.
const maxInputBytes = 1 << 30

// open reads one input whole (so that a file can be closed at once): an
// mbox is then split message by message, anything else is one message.
func (m *mailbox) open(name string, r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxInputBytes {
		return fmt.Errorf("%s: longer than %d bytes; split it", name, maxInputBytes)
	}
	m.name = name
	if bytes.HasPrefix(data, []byte("From ")) {
		m.mbox = newMboxReader(data)
	} else {
		m.single = data
	}
	return nil
}

// messageFiles lists the messages of a directory: a Maildir's new/ and
// cur/ (tmp/ holds messages still being written), or else the
// directory's own regular files, in name order; dot files are skipped.
func messageFiles(dir string) ([]string, error) {
	dirs := []string{dir}
	if isDir(filepath.Join(dir, "cur")) && isDir(filepath.Join(dir, "new")) {
		dirs = []string{filepath.Join(dir, "new"), filepath.Join(dir, "cur")}
	}
	var files []string
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name()[0] != '.' {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	return files, nil
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// mboxReader splits an mbox (mboxrd): a message begins at a "From " line
// at the start or after an empty line; a ">From " line inside a message
// (any number of ">") loses one ">".
type mboxReader struct {
	sc   *bufio.Scanner
	held bool // the scanner holds the next message's "From " line
	n    int  // messages returned so far
}

func newMboxReader(data []byte) *mboxReader {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), intake.MaxReportBytes)
	return &mboxReader{sc: sc}
}

// next returns the next message, without its "From " line, or io.EOF.
func (r *mboxReader) next() ([]byte, error) {
	if !r.held && !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	r.held = false
	var msg bytes.Buffer
	blank := false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if blank && bytes.HasPrefix(line, []byte("From ")) {
			r.held = true
			break
		}
		blank = len(bytes.TrimRight(line, "\r")) == 0
		if unquoted := bytes.TrimLeft(line, ">"); len(unquoted) < len(line) && bytes.HasPrefix(unquoted, []byte("From ")) {
			line = line[1:]
		}
		msg.Write(line)
		msg.WriteByte('\n')
	}
	if err := r.sc.Err(); err != nil {
		return nil, err
	}
	r.n++
	return msg.Bytes(), nil
}
