/* Links only against a glibc that exports the upstream rseq ABI (2.35 and later):
   __rseq_offset, __rseq_size and __rseq_flags from ld.so.  Compiling is not the test
   (the image's /usr/include may supply <sys/rseq.h> to a glibc that lacks it); linking
   against the glibc under test is.  See ../rseq_util.h.  */

#include <stddef.h>
#include <sys/rseq.h>

int
main (void)
{
  return (int) __rseq_size + (int) __rseq_offset + (int) __rseq_flags;
}
