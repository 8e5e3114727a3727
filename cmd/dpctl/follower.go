package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
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
// at byte Offset. Mark is a digest of that line's MarkLen bytes (empty
// when there is none, or it was too long to keep): a file that holds them
// there is the file read, whatever its name or inode now (see holds).
type logPos struct {
	File    fileID `json:"file"`
	Offset  int64  `json:"offset"`
	Line    int64  `json:"line"`
	Mark    string `json:"mark,omitempty"`
	MarkLen int64  `json:"mark_len,omitempty"`
}

// lineMark is the Mark of a line's bytes.
func lineMark(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// holds reports whether file has, before pos.Offset, the line pos marks;
// true when pos marks none, as nothing tells.
func holds(file *os.File, pos logPos) bool {
	if pos.Mark == "" {
		return true
	}
	if pos.MarkLen <= 0 || pos.MarkLen > maxLineLen || pos.Offset < pos.MarkLen {
		return false
	}
	b := make([]byte, pos.MarkLen)
	if _, err := file.ReadAt(b, pos.Offset-pos.MarkLen); err != nil {
		return false
	}
	return lineMark(b) == pos.Mark
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
	path   string
	stderr io.Writer
	// grace is how long a rotated file must go unwritten before it is
	// left: the writer keeps it open until told to reopen the path.
	grace    time.Duration
	mark     string // of the last line read (see logPos)
	markLen  int64
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
// stopped, or from its start without saved. The file read last is found
// by its identity and the last line read in it: at path, or rotated to a
// name beside it (path.1, path-20261203, ...), or, after a copytruncate,
// its copy path.1; it is read on from there first. When it is nowhere,
// reading starts at the start of path and stderr says what may be lost.
func openFollower(path string, saved *logPos, grace time.Duration, stderr io.Writer) (*follower, error) {
	f := &follower{path: path, stderr: stderr, grace: grace, r: bufio.NewReaderSize(nil, maxLineLen)}
	file, info, err := openInfo(path)
	if err != nil && (saved == nil || !errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	if saved == nil {
		f.use(file, info, path)
		return f, nil
	}
	if saved.Offset < 0 || saved.Line < 0 {
		return nil, fmt.Errorf("state: a negative place (%d, line %d): remove the state file to read %s from its start", saved.Offset, saved.Line, path)
	}
	if file != nil && fileIdentity(info) == saved.File && info.Size() >= saved.Offset && holds(file, *saved) {
		f.use(file, info, path)
		f.resume(*saved)
		return f, nil
	}
	if prev, pinfo, name := findRotated(path, *saved); prev != nil {
		if file != nil {
			file.Close()
		}
		f.use(prev, pinfo, name)
		f.resume(*saved)
		f.draining = true
		fmt.Fprintf(stderr, "dpctl: %s was rotated or truncated: reading %s on from line %d first\n", path, name, saved.Line)
		return f, nil
	}
	if file == nil {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	fmt.Fprintf(stderr, "dpctl: the file last read (line %d) is not found beside %s: reading %s from its start; lines written to it after that line are not read\n", saved.Line, path, path)
	f.use(file, info, path)
	return f, nil
}

// findRotated looks beside path for the file saved was in, which holds
// the line it marks: path.1 first (a rename, or a copytruncate's copy),
// then the other names rotation gives (path-DATE, path.2, ...). The file
// is returned open, with its name; nil when none.
func findRotated(path string, saved logPos) (*os.File, os.FileInfo, string) {
	names := []string{path + ".1"}
	if more, err := filepath.Glob(path + "[.-]*"); err == nil {
		for _, n := range more {
			if n != names[0] && !strings.HasSuffix(n, ".dpmon-state") && !strings.Contains(filepath.Base(n), ".dpmon-state.tmp") {
				names = append(names, n)
			}
		}
	}
	for i, name := range names {
		file, info, err := openInfo(name)
		if err != nil {
			continue
		}
		// By its identity, or, for the copy of a copytruncate (a new
		// inode), by the line marked alone.
		sameFile := saved.File != (fileID{}) && fileIdentity(info) == saved.File
		if (sameFile || i == 0 && saved.Mark != "") && info.Size() >= saved.Offset && holds(file, saved) {
			return file, info, name
		}
		file.Close()
	}
	return nil, nil, ""
}

// resume continues reading the file in use after pos.
func (f *follower) resume(pos logPos) {
	f.offset, f.line, f.mark, f.markLen = pos.Offset, pos.Line, pos.Mark, pos.MarkLen
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
	f.mark, f.markLen = "", 0
}

func (f *follower) close() error { return f.cur.Close() }

// pos is the place after the last line read.
func (f *follower) pos() logPos {
	return logPos{File: fileIdentity(f.info), Offset: f.offset, Line: f.line, Mark: f.mark, MarkLen: f.markLen}
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
		case f.draining && n > 0 && f.quiet():
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
	f.mark, f.markLen = "", 0
	if !long {
		f.mark, f.markLen = lineMark(text), n
	}
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
		if !f.quiet() {
			return false, nil // its writer may not have moved on yet
		}
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
		// copytruncate: what was not read yet is in the copy, path.1,
		// if it holds the line read last; it is read on first.
		if cp, cinfo, err := openInfo(f.path + ".1"); err == nil {
			if f.mark != "" && cinfo.Size() >= f.offset && holds(cp, f.pos()) {
				at := f.pos()
				f.cur.Close()
				f.use(cp, cinfo, f.path+".1")
				f.resume(at)
				f.draining = true
				fmt.Fprintf(f.stderr, "dpctl: %s was truncated: reading its copy %s on first\n", f.path, f.path+".1")
				return true, nil
			}
			cp.Close()
		}
		fmt.Fprintf(f.stderr, "dpctl: %s was truncated (shorter than read): reading it from its start\n", f.path)
		f.offset, f.line, f.mark, f.markLen = 0, 0, "", 0
		return true, nil
	}
	return false, nil
}

// quiet reports whether the file read has gone unwritten for the grace
// period, so that a rotated one may be left.
func (f *follower) quiet() bool {
	info, err := f.cur.Stat()
	return err != nil || time.Since(info.ModTime()) >= f.grace
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
