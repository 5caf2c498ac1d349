/* The library that gets replaced on disk while a process has it open.  VICTIM_VERSION
   tells the builds apart.  With VICTIM_PAD, 256 KiB of padding in .text.hot (which the
   linker places before .text) pushes victim_value's code far into the file, beyond the end
   of a smaller replacement: after `cp` truncates and rewrites the file, the page holding
   victim_value lies past end-of-file and executing it raises SIGBUS deterministically,
   instead of running whatever bytes the new version has at that offset.  */

#ifndef VICTIM_VERSION
# error "build with -DVICTIM_VERSION=<n>"
#endif

#ifdef VICTIM_PAD
__attribute__ ((used, section (".text.hot.farm_pad"))) void
victim_padding (void)
{
  __asm__ volatile (".skip 262144, 0xcc");
}
#endif

__attribute__ ((noinline)) int
victim_value (void)
{
  return VICTIM_VERSION;
}
