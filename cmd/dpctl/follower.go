package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// maxLineLen bounds a log line; a longer one is read past, as malformed.
const maxLineLen = 1 << 20

// errIdle is returned by follower.next at the end of the newest file,
// when no complete line follows yet.
var errIdle = errors.New("no complete line yet")

// fileID tells a file apart from the one that takes its name: its device
// and inode, which a rename keeps (zero where fileIdentity knows neither).
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// logPos is a place in a followed file: after its line Line, which ends
// at byte Offset.
type logPos struct {
	File   fileID `json:"file"`
	Offset int64  `json:"offset"`
	Line   int64  `json:"line"`
}

// logLine is one line of a followed file, where it starts and ends.
type logLine struct {
	text          []byte // without the line break; valid until the next line is read
	long          bool   // longer than maxLineLen: text is nil
	name          string // the path the file was opened by
	before, after logPos
}

// follower reads a log file's complete lines as they are written, across
// rotations: when the path names a new file, the old one is read to its
// end (a writer may still add to it until it reopens the path), then the
// new one from its start; when the file shrinks below what was read, it
// was truncated (copytruncate) and is read again from its start. Both are
// seen by polling at the end of the file, which is all the writer
// promises.
type follower struct {
	path     string
	stderr   io.Writer
	cur      *os.File
	info     os.FileInfo // cur's, as opened
	name     string      // the path cur was opened by
	offset   int64       // where the last line read ends
	line     int64       // its number
	r        *bufio.Reader
	reading  bool // r reads cur from offset on
	draining bool // the path names a newer file: read cur to its end, then that one
}

// openFollower opens path to read it from where saved says the last run
// stopped, or from its start without saved. When the saved file has been
// rotated to path.1 since, path.1 is read on from there first; when it is
// gone, or has shrunk, reading starts at the start of path and stderr
// says so.
func openFollower(path string, saved *logPos, stderr io.Writer) (*follower, error) {
	f := &follower{path: path, stderr: stderr, r: bufio.NewReaderSize(nil, maxLineLen)}
	file, info, err := openInfo(path)
	if err != nil && (saved == nil || !errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	if saved == nil {
		f.use(file, info, path)
		return f, nil
	}
	if file != nil && fileIdentity(info) == saved.File {
		f.use(file, info, path)
		if info.Size() < saved.Offset {
			fmt.Fprintf(stderr, "dpctl: %s is shorter than when last read (truncated?): reading it from its start\n", path)
			return f, nil
		}
		f.offset, f.line = saved.Offset, saved.Line
		return f, nil
	}
	if older := path + ".1"; saved.File != (fileID{}) {
		if prev, pinfo, err := openInfo(older); err == nil && fileIdentity(pinfo) == saved.File && pinfo.Size() >= saved.Offset {
			if file != nil {
				file.Close()
			}
			f.use(prev, pinfo, older)
			f.offset, f.line, f.draining = saved.Offset, saved.Line, true
			fmt.Fprintf(stderr, "dpctl: %s was rotated: reading %s on from line %d first\n", path, older, saved.Line)
			return f, nil
		}
	}
	if file == nil {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	fmt.Fprintf(stderr, "dpctl: the file last read is neither %s nor %s.1 now: reading %s from its start\n", path, path, path)
	f.use(file, info, path)
	return f, nil
}

// openInfo opens name and returns what it is.
func openInfo(name string) (*os.File, os.FileInfo, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	return file, info, nil
}

// use makes file, opened by name, the one read, from its start.
func (f *follower) use(file *os.File, info os.FileInfo, name string) {
	f.cur, f.info, f.name = file, info, name
	f.offset, f.line, f.reading, f.draining = 0, 0, false, false
}

func (f *follower) close() error { return f.cur.Close() }

// pos is the place after the last line read.
func (f *follower) pos() logPos {
	return logPos{File: fileIdentity(f.info), Offset: f.offset, Line: f.line}
}

// next returns the next complete line, or errIdle when there is none yet.
func (f *follower) next() (logLine, error) {
	for {
		if !f.reading {
			f.r.Reset(io.NewSectionReader(f.cur, f.offset, math.MaxInt64-f.offset))
			f.reading = true
		}
		text, err := f.r.ReadSlice('\n')
		n, long := int64(len(text)), false
		for errors.Is(err, bufio.ErrBufferFull) {
			text, err = f.r.ReadSlice('\n')
			n, long = n+int64(len(text)), true
		}
		switch {
		case err == nil:
			return f.take(text, n, long), nil
		case !errors.Is(err, io.EOF):
			return logLine{}, fmt.Errorf("%s: %w", f.name, err)
		case f.draining && n > 0:
			// The writer has moved on: a last line without its line
			// break is all there will be of it.
			return f.take(text, n, long), nil
		}
		f.reading = false // a line being written is read again, whole, later
		more, err := f.atEnd()
		if err != nil || !more {
			return logLine{}, cmp.Or(err, errIdle)
		}
	}
}

// take counts the line text of n bytes as read.
func (f *follower) take(text []byte, n int64, long bool) logLine {
	l := logLine{long: long, name: f.name, before: f.pos()}
	f.offset, f.line = f.offset+n, f.line+1
	l.after = f.pos()
	if !long {
		l.text = bytes.TrimRight(text, "\r\n")
	}
	return l
}

// atEnd looks, at the end of the file read, for a rotation or a
// truncation, and says whether there is more to read.
func (f *follower) atEnd() (bool, error) {
	if f.draining {
		file, info, err := openInfo(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // renamed, and its successor not created yet
		}
		if err != nil {
			return false, err
		}
		f.cur.Close()
		f.use(file, info, f.path)
		return true, nil
	}
	info, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !os.SameFile(f.info, info):
		f.draining, f.name = true, f.path+" (rotated)"
		return true, nil
	case info.Size() < f.offset:
		fmt.Fprintf(f.stderr, "dpctl: %s was truncated: reading it from its start\n", f.path)
		f.offset, f.line = 0, 0
		return true, nil
	}
	return false, nil
}

// replay calls fn with each line of the window bytes before the place
// reading resumes at: a format whose events need earlier lines (Postfix's
// sender of a queue id) reads what it would have known without the
// restart. It is best effort: an overlong line ends it.
func (f *follower) replay(window int64, fn func(line []byte)) {
	start := max(0, f.offset-window)
	sc := bufio.NewScanner(io.NewSectionReader(f.cur, start, f.offset-start))
	sc.Buffer(make([]byte, 0, 64<<10), maxLineLen)
	for first := true; sc.Scan(); first = false {
		if !first || start == 0 { // not the tail of a line cut by the window
			fn(sc.Bytes())
		}
	}
}

// followState is what follow-log keeps between runs: where the last line
// whose events the server acknowledged ends.
type followState struct {
	Version int    `json:"version"`
	Path    string `json:"path"` // the path followed, for people
	logPos
}

// loadState reads the state file name; nil, nil when there is none.
func loadState(name string) (*logPos, error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st followState
	if err := json.Unmarshal(b, &st); err != nil || st.Version != 1 {
		return nil, fmt.Errorf("state file %s cannot be read (remove it to read the log from its start): %v", name, cmp.Or(err, errors.New("unknown version")))
	}
	return &st.logPos, nil
}

// saveState replaces the state file name with st, whole and durable, or
// not at all: a crash leaves the old state or the new one.
func saveState(name string, st followState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is there
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	// The rename is durable once the directory is; systems that cannot
	// sync a directory (Windows) make it durable on their own.
	if dir, err := os.Open(filepath.Dir(name)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
