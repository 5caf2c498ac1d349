/* The farm kills whatever a case leaves behind and empties the scratch space before the
   next case runs.  This case checks it from the inside: every process of its own user
   must be itself or one of its ancestors (the harness, timeout, the case script); /tmp must
   be empty, and /farm/scratch hold only this case's own directory.  A zombie not yet reaped
   by the container's init holds nothing but a process slot, and is only noted.  In the
   sandbox family it runs after fork-bomb, hang and kill-the-harness, which all leave
   processes (and kill-the-harness files).  */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm_case.h"

#define MAX_ANCESTORS 64
#define SCRATCH "/farm/scratch/"

/* The entries of DIRECTORY other than . and .. and KEEP; each is printed.  */
static int
count_leftover_files (const char *directory, const char *keep)
{
  DIR *dir = opendir (directory);
  if (dir == NULL)
    FARM_FAIL ("cannot read %s", directory);
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir (dir)) != NULL)
    {
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0
          || (keep != NULL && strcmp (entry->d_name, keep) == 0))
        continue;
      printf ("leftover: %s/%s\n", directory, entry->d_name);
      ++count;
    }
  closedir (dir);
  return count;
}

struct proc_status
{
  char name[64];
  char state;
  long ppid;
  long uid;
};

/* Read /proc/PID/status; 0 if the process is gone.  */
static int
read_status (long pid, struct proc_status *status)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/status", pid);
  FILE *file = fopen (path, "r");
  if (file == NULL)
    return 0;
  memset (status, 0, sizeof *status);
  status->uid = -1;
  char line[256];
  while (fgets (line, sizeof line, file) != NULL)
    {
      if (sscanf (line, "Name: %63s", status->name) == 1)
        continue;
      if (sscanf (line, "State: %c", &status->state) == 1)
        continue;
      if (sscanf (line, "PPid: %ld", &status->ppid) == 1)
        continue;
      sscanf (line, "Uid: %ld", &status->uid);
    }
  fclose (file);
  return 1;
}

int
main (void)
{
  long ancestors[MAX_ANCESTORS];
  int count = 0;
  for (long pid = getpid (); pid > 1 && count < MAX_ANCESTORS;)
    {
      struct proc_status status;
      ancestors[count++] = pid;
      if (!read_status (pid, &status))
        break;
      pid = status.ppid;
    }

  DIR *proc = opendir ("/proc");
  if (proc == NULL)
    FARM_FAIL ("cannot read /proc");
  int others = 0, zombies = 0, seen = 0;
  struct dirent *entry;
  while ((entry = readdir (proc)) != NULL)
    {
      if (!isdigit ((unsigned char) entry->d_name[0]))
        continue;
      long pid = strtol (entry->d_name, NULL, 10);
      struct proc_status status;
      if (!read_status (pid, &status) || status.uid != (long) getuid ())
        continue;
      ++seen;
      int ours = 0;
      for (int i = 0; i < count; ++i)
        ours |= ancestors[i] == pid;
      if (ours)
        continue;
      if (status.state == 'Z')
        {
          ++zombies;
          continue;
        }
      ++others;
      printf ("leftover: pid %ld (%s), state %c, parent %ld\n", pid, status.name,
              status.state, status.ppid);
    }
  closedir (proc);
  FARM_NOTE ("%d processes of uid %d: this case and its %d ancestors; %d zombies",
             seen, (int) getuid (), count - 1, zombies);
  if (others > 0)
    FARM_FAIL ("%d processes of an earlier case are still running", others);

  /* This case's own directory: the first component of the working directory below
     /farm/scratch.  */
  char cwd[4096];
  if (getcwd (cwd, sizeof cwd) == NULL || strncmp (cwd, SCRATCH, strlen (SCRATCH)) != 0)
    FARM_FAIL ("the case does not run below " SCRATCH);
  char *own = cwd + strlen (SCRATCH);
  own[strcspn (own, "/")] = '\0';
  int files = count_leftover_files ("/tmp", NULL) + count_leftover_files ("/farm/scratch", own);
  if (files > 0)
    FARM_FAIL ("%d files of an earlier case are still in /tmp or /farm/scratch", files);
  FARM_NOTE ("/tmp is empty; /farm/scratch holds only %s", own);
  FARM_PASS ();
}
