/*  ident - what a game node must remember across restarts so that no term
    and no match id is ever used twice: the highest term it has led or
    followed, and the highest match id it has used, seen or reserved.

    Both live in one small text file in the node's data directory,
    IDENT_FILE, rewritten whole on every change: written to a temporary
    file, fsynced, renamed over the old one, and the directory fsynced,
    so that after a crash the file holds either the old values or the new
    ones. A change is durable when the call returns 0; the node acts on a
    value (leads a term, opens a match) only after that.

    Without a data directory the values live in memory only, and every
    write succeeds.

    The file is outside input: a malformed one is refused with a reason
    naming the line, and the node does not start.
*/
#ifndef IDENT_H_INCLUDED
#define IDENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define IDENT_FILE      "node.state"    //  name in a data directory

typedef struct _ident_t ident_t;

//  Reads DIR/IDENT_FILE (dir "" for memory only); a missing file is a
//  fresh node (both values 0). NULL if the file cannot be read or is
//  malformed, with why in reason.
ident_t *ident_new (const char *dir, char *reason, size_t reason_size);

//  Destroys it; safe on NULL, nulls *self_p.
void ident_destroy (ident_t **self_p);

//  The highest term this node has led or followed.
uint64_t ident_term (ident_t *self);

//  The highest match id this node has used, seen or reserved.
uint32_t ident_matches (ident_t *self);

//  Raises the term and the match id to at least these, durably: 0 once
//  on disk (or if nothing rises), -1 with a logged error if the write
//  failed, and then the values in memory do not rise either.
int ident_raise (ident_t *self, uint64_t term, uint32_t matches);

#endif
