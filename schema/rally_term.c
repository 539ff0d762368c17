/*  rally_term - which terms a process may believe. See rally_term.h.  */
#include "rally_term.h"

bool rally_term_believable (uint64_t known, uint64_t term)
{
    if (term <= known)
        return true;            //  old news is never a risk
    if (term > RALLY_TERM_MAX)
        return false;
    if (known == 0)
        return term <= RALLY_TERM_FIRST_MAX;
    return term - known <= RALLY_TERM_STEP;
}

bool rally_term_grantable (uint64_t known)
{
    return known < RALLY_TERM_MAX;
}
