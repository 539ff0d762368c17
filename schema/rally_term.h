/*  rally_term - which terms a process may believe.

    A term names one leadership; every process keeps the highest it knows
    and asks for one above it, so a single heard term raises every term
    after it. A key proves who sent a term, not that it is right: a member
    that says 2^64-1 would leave no term to grant, one that says 2^63 would
    push every stored result out of SQLite's range. So a term is believed
    only if it is at most RALLY_TERM_MAX, and at most RALLY_TERM_STEP above
    the highest term the process already knows. A process that knows no
    term yet (it just started, and remembers nothing) must learn the
    cluster's, whatever they have grown to: it believes any term up to
    RALLY_TERM_FIRST_MAX, which leaves room for more grants than any
    cluster makes.

    One grant raises the term by one, and a node asks one above the highest
    it has seen, so legitimate terms never come near the step: a process
    would have to be cut off through 65,536 failovers in a row (hours of
    nothing but failovers). A hostile member can still raise terms, but by
    at most a step a message, each refused one logged: using up the 2^52
    terms left takes 2^36 messages, months at 10,000 a second.
*/
#ifndef RALLY_TERM_H_INCLUDED
#define RALLY_TERM_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define RALLY_TERM_MAX          ((UINT64_C (1) << 53) - 1)  //  exact in JSON
#define RALLY_TERM_FIRST_MAX    (UINT64_C (1) << 52)    //  learned from none
#define RALLY_TERM_STEP         UINT64_C (65536)        //  above the known

//  True if a process that knows terms up to known may believe term.
bool rally_term_believable (uint64_t known, uint64_t term);

//  True if a term may be granted after known: one more must still be a
//  term (RALLY_TERM_MAX at most).
bool rally_term_grantable (uint64_t known);

#endif
