/* `cp new.so loaded.so` writes into the file the process has mapped: cp opens the
   destination with O_TRUNC, so the kernel drops the mapped pages, and then writes the new
   (smaller) version into the same inode.  The process's next call into the old object
   executes a page that now lies beyond end-of-file: SIGBUS.  That crash is this case's
   natural outcome (expect: crash); returning from the call is the FAIL.

   The case first checks its own premise, that victim_value's page is beyond the end of
   the replacement, so the outcome is SIGBUS by construction rather than by luck.  */

#include "../replace_util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int
main (void)
{
  const char *path = farm_path ("libvictim.so");
  const char *replacement = farm_path ("libvictim-v2.so");

  void *handle = dlopen (path, RTLD_NOW);
  if (handle == NULL)
    FARM_FAIL ("dlopen %s: %s", path, dlerror ());
  int (*victim_value) (void) = (int (*) (void)) dlsym (handle, "victim_value");
  if (victim_value == NULL)
    FARM_FAIL ("dlsym victim_value: %s", dlerror ());
  FARM_CHECK (victim_value () == 1);

  long page = sysconf (_SC_PAGESIZE);
  long offset = farm_file_offset_of ((const void *) victim_value);
  struct stat before = farm_stat (path);
  long replacement_size = (long) farm_stat (replacement).st_size;
  printf ("victim_value is at file offset %#lx; the replacement is %ld bytes\n", offset,
          replacement_size);
  if (offset < 0 || offset / page * page < (replacement_size + page - 1) / page * page)
    FARM_FAIL ("victim_value's page is not beyond the replacement's end: the padding in "
               "victim.c did not land before it (linker script changed?)");

  char *cp[] = { (char *) "cp", (char *) replacement, (char *) path, NULL };
  farm_run_command (cp);
  struct stat after = farm_stat (path);
  printf ("cp done: inode %lu -> %lu, size %ld -> %ld\n", (unsigned long) before.st_ino,
          (unsigned long) after.st_ino, (long) before.st_size, (long) after.st_size);
  if (after.st_ino != before.st_ino)
    FARM_FAIL ("cp replaced the inode instead of overwriting it; nothing to show");

  puts ("calling into the overwritten object");
  int value = victim_value ();
  FARM_FAIL ("the call returned %d instead of faulting", value);
}
