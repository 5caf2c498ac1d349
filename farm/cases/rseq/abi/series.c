/* Links only against a glibc carrying the v12 rseq registration series: __rseq_abi (TLS,
   from libc.so) and __rseq_handled (from ld.so).  Declared here, not taken from a header,
   for the reason ../rseq_util.h gives.  */

#include <stdint.h>

struct probe_rseq
{
  uint32_t cpu_id_start;
  uint32_t cpu_id;
} __attribute__ ((aligned (32)));

extern __thread struct probe_rseq __rseq_abi __attribute__ ((tls_model ("initial-exec")));
extern int __rseq_handled;

int
main (void)
{
  return (int) __rseq_abi.cpu_id + __rseq_handled;
}
