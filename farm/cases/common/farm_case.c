/* Implementation of the farm's case protocol (see farm_case.h).

   The banner runs as a constructor so no case can forget it, and so it is printed even by
   a case that crashes on purpose in main.  */

#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif

#include "farm_case.h"

#include <errno.h>
#include <elf.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

void
farm_fail_at (const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  printf ("FAIL: %s:%d: ", file, line);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
  exit (FARM_EXIT_FAIL);
}

void
farm_unsupported_at (const char *file, int line, const char *fmt, ...)
{
  va_list ap;
  printf ("UNSUPPORTED: %s:%d: ", file, line);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
  exit (FARM_EXIT_UNSUPPORTED);
}

void
farm_pass (void)
{
  puts ("PASS");
  fflush (stdout);
  exit (FARM_EXIT_PASS);
}

void
farm_note (const char *fmt, ...)
{
  va_list ap;
  fputs ("farm: note ", stdout);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
}

const char *
farm_path (const char *name)
{
  char exe[PATH_MAX];
  ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (len < 0)
    FARM_FAIL ("readlink /proc/self/exe: %s (is /proc mounted?)", strerror (errno));
  exe[len] = '\0';
  char *slash = strrchr (exe, '/');
  if (slash == NULL)
    FARM_FAIL ("/proc/self/exe is not an absolute path: %s", exe);
  *slash = '\0';
  char *result;
  if (asprintf (&result, "%s/%s", exe, name) < 0)
    FARM_FAIL ("asprintf: out of memory");
  return result;
}

int
farm_file_dynamic_entry (const char *path, long tag, unsigned long *value)
{
  FILE *file = fopen (path, "rb");
  if (file == NULL)
    FARM_FAIL ("open %s: %s", path, strerror (errno));
  ElfW(Ehdr) header;
  if (fread (&header, sizeof header, 1, file) != 1
      || memcmp (header.e_ident, ELFMAG, SELFMAG) != 0
      || header.e_ident[EI_CLASS] != (sizeof (void *) == 8 ? ELFCLASS64 : ELFCLASS32)
      || header.e_phentsize != sizeof (ElfW(Phdr)))
    FARM_FAIL ("%s is not an ELF object of this program's class", path);
  int found = 0;
  for (unsigned int i = 0; i < header.e_phnum && !found; ++i)
    {
      ElfW(Phdr) phdr;
      if (fseek (file, (long) (header.e_phoff + i * sizeof phdr), SEEK_SET) != 0
          || fread (&phdr, sizeof phdr, 1, file) != 1)
        FARM_FAIL ("%s: cannot read program header %u", path, i);
      if (phdr.p_type != PT_DYNAMIC)
        continue;
      for (size_t offset = 0; offset + sizeof (ElfW(Dyn)) <= phdr.p_filesz;
           offset += sizeof (ElfW(Dyn)))
        {
          ElfW(Dyn) entry;
          if (fseek (file, (long) (phdr.p_offset + offset), SEEK_SET) != 0
              || fread (&entry, sizeof entry, 1, file) != 1)
            FARM_FAIL ("%s: cannot read the dynamic section", path);
          if (entry.d_tag == DT_NULL)
            break;
          if ((long) entry.d_tag == tag)
            {
              *value = (unsigned long) entry.d_un.d_val;
              found = 1;
              break;
            }
        }
    }
  fclose (file);
  return found;
}

void
farm_sleep_ms (long milliseconds)
{
  struct timespec ts = { milliseconds / 1000, (milliseconds % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The path of the file mapped at ADDRESS, from /proc/self/maps; NULL if unknown.  Unlike
   the loader's own idea of its name (the PT_INTERP string), this is the file the kernel
   really mapped, after symlinks.  */
static char *
mapped_file_at (unsigned long address)
{
  FILE *maps = fopen ("/proc/self/maps", "re");
  if (maps == NULL)
    return NULL;
  char line[PATH_MAX + 128];
  char *result = NULL;
  while (result == NULL && fgets (line, sizeof line, maps) != NULL)
    {
      unsigned long start, end;
      int path_at = 0;
      if (sscanf (line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &path_at) < 2
          || path_at == 0)
        continue;
      if (address < start || address >= end || line[path_at] != '/')
        continue;
      line[strcspn (line, "\n")] = '\0';
      result = strdup (line + path_at);
    }
  fclose (maps);
  return result;
}

static int
program_has_interpreter (void)
{
  const ElfW(Phdr) *phdr = (const ElfW(Phdr) *) getauxval (AT_PHDR);
  unsigned long phnum = getauxval (AT_PHNUM);
  for (unsigned long i = 0; phdr != NULL && i < phnum; ++i)
    if (phdr[i].p_type == PT_INTERP)
      return 1;
  return 0;
}

struct loader_search
{
  unsigned long base;
  const char *name;
};

static int
find_loader_object (struct dl_phdr_info *info, size_t size, void *closure)
{
  (void) size;
  struct loader_search *search = closure;
  const char *name = info->dlpi_name;
  if (name == NULL || name[0] == '\0')
    return 0;
  if ((search->base != 0 && info->dlpi_addr == search->base)
      || (search->base == 0
          && (strstr (name, "/ld-linux") != NULL || strstr (name, "/ld.so") != NULL)))
    {
      search->name = name;
      search->base = info->dlpi_addr;
      return 1;
    }
  return 0;
}

static void
print_loader (void)
{
  unsigned long base = getauxval (AT_BASE);
  if (base == 0 && !program_has_interpreter ())
    {
      puts ("farm: loader static");
      return;
    }
  /* AT_BASE is 0 for a dynamic program only when the loader was run as a command
     (ld.so ./prog); then look the loader up by name among the loaded objects.  */
  struct loader_search search = { base, NULL };
  dl_iterate_phdr (find_loader_object, &search);
  char *path = search.base != 0 ? mapped_file_at (search.base) : NULL;
  if (path != NULL)
    printf ("farm: loader %s\n", path);
  else if (search.name != NULL)
    printf ("farm: loader %s\n", search.name);
  else
    puts ("farm: loader unknown (no AT_BASE and no ld.so among the loaded objects)");
  free (path);
}

__attribute__ ((constructor)) static void
farm_banner (void)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  printf ("farm: glibc %s\n", gnu_get_libc_version ());
  print_loader ();
}
